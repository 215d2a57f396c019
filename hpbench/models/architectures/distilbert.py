"""DistilBERT: ``q_lin``/``k_lin``/``v_lin``/``out_lin`` (head count ``n_heads``); FFN ``ffn.lin1`` -> ``ffn.lin2``."""
from ..adapters import Projections
from ..ffn import FFNMap
from .base import Architecture, TinyConfig, register_architecture

register_architecture(Architecture(
    name="distilbert", model_types=("distilbert",), post_norm=True,
    attention=Projections(layers="transformer.layer", attention="attention", q="q_lin", k="k_lin", v="v_lin", o="out_lin",
                          heads_attr="n_heads", head_dim_attr="attention_head_size",
                          config_names=("n_layers", "n_heads", "dim", "hidden_dim")),
    ffn=FFNMap("transformer.layer", ("ffn.lin1",), "ffn.lin2"),
    tiny=TinyConfig("DistilBertConfig", "DistilBertForSequenceClassification", dict(
        vocab_size=100, dim=32, n_layers=3, n_heads=4, hidden_dim=64, max_position_embeddings=64, dropout=0.0,
        attention_dropout=0.0, seq_classif_dropout=0.0, initializer_range=0.3, num_labels=3)),
    description="DistilBERT encoders"))
