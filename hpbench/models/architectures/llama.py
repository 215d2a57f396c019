"""Llama: grouped KV heads (GQA); query heads gated and pruned one by one, a KV head goes with the last query
head of its group; gated MLP (``gate_proj``, ``up_proj`` -> ``down_proj``). Its config declares an output-projection
bias (``attention_bias``), so FLAP's compensated models save as standard checkpoints."""
from ..adapters import GroupedProjections
from ..ffn import FFNMap
from .base import Architecture, TinyConfig, register_architecture

register_architecture(Architecture(
    name="llama", model_types=("llama",), attention=GroupedProjections(layers="layers", attention="self_attn"),
    ffn=FFNMap("layers", ("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj"),
    out_bias_flag="attention_bias",  # Llama declares q/k/v/o biases with one flag
    tiny=TinyConfig("LlamaConfig", "LlamaForCausalLM", dict(  # 4 query heads, 2 KV heads (groups {0, 1}, {2, 3})
        vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, attention_dropout=0.0, initializer_range=0.3)),
    description="Llama decoders (grouped KV heads)"))
