"""FLOP count of a (possibly head-pruned) BERT-style encoder forward pass.

Counted per layer (multiply-add = 2 FLOPs), batch B, sequence T, hidden d, heads kept h, head size
d_h, FFN size f:

    Q, K, V projections   3 * 2 B T d (h d_h)
    scores Q K^T          2 B h T^2 d_h
    context P V           2 B h T^2 d_h
    output projection     2 B T (h d_h) d
    FFN                   2 * 2 B T d f        (unchanged by head pruning)

Embeddings, layer norms, softmax, biases and the classifier are not counted.
"""
from __future__ import annotations

from .adapters import adapter_for
from .heads import heads_per_layer


def layer_flops(batch: int, seq: int, hidden: int, heads: int, head_size: int, ffn: int) -> dict[str, int]:
    a = heads * head_size
    return {
        "qkv": 3 * 2 * batch * seq * hidden * a,
        "attention": 2 * 2 * batch * heads * seq * seq * head_size,
        "output": 2 * batch * seq * a * hidden,
        "ffn": 2 * 2 * batch * seq * hidden * ffn,
    }


def flops_for_heads(config, heads: list[int], batch: int, seq: int) -> int:
    """Forward FLOPs of an encoder with ``config``'s shapes and ``heads[l]`` heads kept in layer ``l``."""
    s = adapter_for(config).shape(config)  # sizes by architecture (DistilBERT: dim, hidden_dim; explicit head_dim)
    return sum(sum(layer_flops(batch, seq, s.hidden, h, s.head_dim, s.ffn).values()) for h in heads)


def encoder_flops(model, batch: int, seq: int) -> int:
    """Forward FLOPs of ``model``'s encoder at its current (pruned) head counts."""
    return flops_for_heads(model.config, heads_per_layer(model), batch, seq)
