"""GPT-2: one fused ``Conv1D`` ``c_attn`` for [Q | K | V], ``c_proj`` as O; FFN ``mlp.c_fc`` -> ``mlp.c_proj``."""
from ..adapters import FusedQKV
from ..ffn import FFNMap
from .base import Architecture, TinyConfig, register_architecture

register_architecture(Architecture(
    name="gpt2", model_types=("gpt2",), attention=FusedQKV(), ffn=FFNMap("h", ("mlp.c_fc",), "mlp.c_proj"),
    tiny=TinyConfig("GPT2Config", "GPT2LMHeadModel", dict(
        vocab_size=100, n_embd=32, n_layer=3, n_head=4, n_inner=64, n_positions=64, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, initializer_range=0.3)),
    description="GPT-2 decoders"))
