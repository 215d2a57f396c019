"""FLOP count of a (possibly head-pruned) BERT-style encoder forward pass.

Counted per layer (multiply-add = 2 FLOPs), batch B, sequence T, hidden d, heads kept h, head size
d_h, FFN size f:

    Q, K, V projections   3 * 2 B T d (h d_h)
    scores Q K^T          2 B h T^2 d_h
    context P V           2 B h T^2 d_h
    output projection     2 B T (h d_h) d
    FFN                   m * 2 B T d f        (m = 2 matrices, 3 for gated MLPs; f = the neurons kept)

Embeddings, layer norms, softmax, biases and the classifier are not counted.
"""
from __future__ import annotations

from .adapters import adapter_for

FLOPS_SEQ = 128  # results carry each pruned model's encoder GFLOPs per sequence of this many tokens
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


def flops_for_heads(config, heads: list[int], batch: int, seq: int, kv_heads: list[int] | None = None,
                    ffn: list[int] | None = None) -> int:
    """Forward FLOPs with ``config``'s shapes, ``heads[l]`` query heads (and ``kv_heads[l]`` KV heads; default:
    as many as query heads without GQA, the config's count with it) and ``ffn[l]`` FFN neurons (default: all)
    kept in layer ``l``."""
    s = adapter_for(config).shape(config)  # sizes by architecture (DistilBERT: dim, hidden_dim; explicit head_dim)
    kv = kv_heads or [h if s.kv_heads is None else s.kv_heads for h in heads]
    ffn = ffn or [s.ffn] * len(heads)
    return sum(sum(layer_flops(batch, seq, s.hidden, h, s.head_dim, f, k, s.ffn_mats).values())
               for h, k, f in zip(heads, kv, ffn))


def flops_for_mask(config, keep, batch: int, seq: int, ffn_kept: list[int] | None = None) -> int:
    """Forward FLOPs of the model pruned to ``keep`` ([layers, heads] bool; GQA: a KV head counts while any query
    head of its group is kept), with ``ffn_kept[l]`` FFN neurons in layer ``l`` (default: all)."""
    ad = adapter_for(config)
    rows = [[bool(k) for k in row] for row in keep.tolist()]
    return flops_for_heads(config, [sum(r) for r in rows], batch, seq, [ad.kv_heads_of(config, r) for r in rows], ffn_kept)


def unit_flops(config, seq: int) -> tuple[int, int]:
    """(FLOPs of one query head with its own K and V, FLOPs of one FFN neuron) per ``seq``-token sequence: the
    per-unit costs of :func:`layer_flops` (every head and every neuron costs the same without grouped KV heads)."""
    s = adapter_for(config).shape(config)
    head = sum(layer_flops(1, seq, s.hidden, 1, s.head_dim, 0, 1, s.ffn_mats).values())
    return head, layer_flops(1, seq, s.hidden, 0, s.head_dim, 1, 0, s.ffn_mats)["ffn"]


def encoder_flops(model, batch: int, seq: int) -> int:
    """Forward FLOPs of ``model``'s encoder at its current (pruned) head counts."""
    from .heads import attention_blocks

    from .ffn import FFN_MAPS, neurons_per_layer

    ad = adapter_for(model)
    blocks = attention_blocks(model)
    ffn = neurons_per_layer(model) if model.config.model_type in FFN_MAPS else None
    return flops_for_heads(model.config, heads_per_layer(model), batch, seq, [ad.n_kv_heads(b) for b in blocks], ffn)
