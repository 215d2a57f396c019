"""The BERT family: BERT, RoBERTa, XLM-R, ELECTRA, CamemBERT (``attention.self.{query,key,value}``,
``attention.output.dense``; FFN ``intermediate.dense`` -> ``output.dense``)."""
from ..adapters import BertFamily
from ..ffn import FFNMap
from .base import Architecture, TinyConfig, register_architecture

register_architecture(Architecture(
    name="bert", model_types=("bert", "roberta", "xlm-roberta", "electra", "camembert"), post_norm=True, attention=BertFamily(),
    ffn=FFNMap("encoder.layer", ("intermediate.dense",), "output.dense"),
    tiny=TinyConfig("BertConfig", "BertForSequenceClassification", dict(
        vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.3,
        num_labels=3)),
    description="BERT-family encoders"))
