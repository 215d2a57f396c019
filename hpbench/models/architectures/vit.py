"""ViT (transformers 5: ``layers[i].attention.{q,k,v,o}_proj``; FFN ``mlp.fc1`` -> ``mlp.fc2``)."""
from ..adapters import Projections
from ..ffn import FFNMap
from .base import Architecture, TinyConfig, register_architecture

register_architecture(Architecture(
    name="vit", model_types=("vit",), attention=Projections(layers="layers", attention="attention"),
    ffn=FFNMap("layers", ("mlp.fc1",), "mlp.fc2"),
    tiny=TinyConfig("ViTConfig", "ViTForImageClassification", dict(
        image_size=16, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.3,
        num_labels=3), inputs="image"),
    description="Vision Transformers"))
