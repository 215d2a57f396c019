"""DeBERTa-v2 and -v3: ``query_proj``/``key_proj``/``value_proj`` and, without shared attention keys, the
relative-position projections ``pos_key_proj``/``pos_query_proj`` pruned by the same head rows."""
from ..adapters import BertFamily
from ..ffn import FFNMap
from .base import Architecture, TinyConfig, register_architecture

register_architecture(Architecture(
    name="deberta-v2", model_types=("deberta-v2",), post_norm=True,
    attention=BertFamily("query_proj", "key_proj", "value_proj", ("pos_key_proj", "pos_query_proj")),
    ffn=FFNMap("encoder.layer", ("intermediate.dense",), "output.dense"),
    # disentangled relative attention (c2p + p2c) with its own position projections: the case with the most to prune
    tiny=TinyConfig("DebertaV2Config", "DebertaV2ForSequenceClassification", dict(
        vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, relative_attention=True,
        pos_att_type=["p2c", "c2p"], share_att_key=False, max_relative_positions=16, position_buckets=-1,
        initializer_range=0.3, num_labels=3), attention=("eager",)),
    description="DeBERTa-v2/v3 encoders (disentangled relative attention)"))
