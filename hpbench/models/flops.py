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


def layer_flops(batch: int, seq: int, hidden: int, heads: int, head_size: int, ffn: int, kv_heads: int | None = None,
                ffn_mats: int = 2) -> dict[str, int]:
    kv = heads if kv_heads is None else kv_heads
    return {
        "qkv": 2 * batch * seq * hidden * head_size * (heads + 2 * kv),  # GQA: K and V have kv_heads heads
        "attention": 2 * 2 * batch * heads * seq * seq * head_size,
        "output": 2 * batch * seq * heads * head_size * hidden,
        "ffn": ffn_mats * 2 * batch * seq * hidden * ffn,
    }


def flops_for_heads(config, heads: list[int], batch: int, seq: int, kv_heads: list[int] | None = None) -> int:
    """Forward FLOPs with ``config``'s shapes, ``heads[l]`` query heads (and ``kv_heads[l]`` KV heads; default:
    as many as query heads without GQA, the config's count with it) kept in layer ``l``."""
    s = adapter_for(config).shape(config)  # sizes by architecture (DistilBERT: dim, hidden_dim; explicit head_dim)
    kv = kv_heads or [h if s.kv_heads is None else s.kv_heads for h in heads]
    return sum(sum(layer_flops(batch, seq, s.hidden, h, s.head_dim, s.ffn, k, s.ffn_mats).values())
               for h, k in zip(heads, kv))


def flops_for_mask(config, keep, batch: int, seq: int) -> int:
    """Forward FLOPs of the model pruned to ``keep`` ([layers, heads] bool; GQA: a KV head counts while any query
    head of its group is kept)."""
    ad = adapter_for(config)
    rows = [[bool(k) for k in row] for row in keep.tolist()]
    return flops_for_heads(config, [sum(r) for r in rows], batch, seq, [ad.kv_heads_of(config, r) for r in rows])


def encoder_flops(model, batch: int, seq: int) -> int:
    """Forward FLOPs of ``model``'s encoder at its current (pruned) head counts."""
    from .heads import attention_blocks

    ad = adapter_for(model)
    blocks = attention_blocks(model)
    return flops_for_heads(model.config, heads_per_layer(model), batch, seq, [ad.n_kv_heads(b) for b in blocks])
