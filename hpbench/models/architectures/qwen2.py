"""Qwen2: the Llama layout (grouped KV heads, gated MLP); its config cannot declare an output-projection bias."""
from ..adapters import GroupedProjections
from ..ffn import FFNMap
from .base import Architecture, TinyConfig, register_architecture

register_architecture(Architecture(
    name="qwen2", model_types=("qwen2",), attention=GroupedProjections(layers="layers", attention="self_attn"),
    ffn=FFNMap("layers", ("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj"),
    tiny=TinyConfig("Qwen2Config", "Qwen2ForCausalLM", dict(  # 4 query heads, 2 KV heads (groups {0, 1}, {2, 3})
        vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, attention_dropout=0.0, initializer_range=0.3)),
    description="Qwen2 decoders (grouped KV heads)"))
