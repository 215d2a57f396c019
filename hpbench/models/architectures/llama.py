"""Llama: grouped KV heads (GQA); query heads gated and pruned one by one, a KV head goes with the last query head of
its group; gated MLP (``gate_proj``, ``up_proj`` -> ``down_proj``). Its config declares an output-projection bias
(``attention_bias``), so FLAP's compensated models save as standard checkpoints. :func:`llama_like` builds the record
of a family with the same layout (Qwen2, Mistral)."""
from ..adapters import GroupedProjections
from ..ffn import FFNMap
from .base import Architecture, TinyConfig, register_architecture


def llama_like(name: str, classes: str, out_bias_flag: str | None = None) -> Architecture:
    """The record of a Llama-layout family ``name`` whose transformers classes are ``<classes>Config`` and
    ``<classes>ForCausalLM``; its tiny test model has 4 query heads over 2 KV heads (groups {0, 1}, {2, 3})."""
    return Architecture(
        name=name, model_types=(name,), attention=GroupedProjections(layers="layers", attention="self_attn"),
        ffn=FFNMap("layers", ("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj"), out_bias_flag=out_bias_flag,
        tiny=TinyConfig(f"{classes}Config", f"{classes}ForCausalLM", dict(
            vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, attention_dropout=0.0, initializer_range=0.3)),
        description=f"{classes} decoders (grouped KV heads)")


register_architecture(llama_like("llama", "Llama", out_bias_flag="attention_bias"))  # one flag: q/k/v/o biases
