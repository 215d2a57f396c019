"""Gemma 3 (text decoder; ``gemma3_text``): the Llama layout (grouped KV heads, gated MLP) with a per-head RMSNorm on
queries and keys (``q_norm``/``k_norm``, one weight over ``head_dim`` shared by every head, so pruning a head leaves
it as it is), an explicit ``head_dim`` that need not be ``hidden_size / heads`` (Gemma-3-270M: 4 query heads of 256
over a width of 640), sliding-window layers beside global ones, and the embedding scaled by sqrt(width). Its config
cannot declare an output-projection bias (FLAP's compensated models save in hpbench's format)."""
from ..adapters import GroupedProjections
from ..ffn import FFNMap
from .base import Architecture, TinyConfig, register_architecture

register_architecture(Architecture(
    name="gemma3", model_types=("gemma3_text",), attention=GroupedProjections(layers="layers", attention="self_attn"),
    ffn=FFNMap("layers", ("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj"),
    tiny=TinyConfig("Gemma3TextConfig", "Gemma3ForCausalLM", dict(
        vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=64, attention_dropout=0.0, initializer_range=0.3,
        sliding_window=4, layer_types=["full_attention", "sliding_attention", "full_attention"],
        query_pre_attn_scalar=8)),
    description="Gemma 3 text decoders (grouped KV heads, q/k norms, sliding-window layers)"))
