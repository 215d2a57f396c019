"""Pruned decoders as *standard* checkpoints: when every layer keeps the same number of query heads and of KV heads,
and query head i of a layer reads KV head ``i // (kept query / kept KV)`` (what ``repeat_kv`` computes), the pruned
model is an ordinary smaller model: ``num_attention_heads``, ``num_key_value_heads`` and ``head_dim`` rewritten in
its config, weights under their usual names. ``AutoModelForCausalLM.from_pretrained`` loads it without hpbench
(and so do other runtimes that read transformers checkpoints). Irregular masks keep hpbench's own format
(``config.hpbench_pruned_heads``, :func:`hpbench.from_pretrained`)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from .adapters import EmptyAttention, GroupedProjections, adapter_for
from .architectures import architecture_for


def regular_heads(model: nn.Module) -> tuple[int, int] | None:
    """(query heads, KV heads) kept in every layer when the pruned structure is a standard GQA layout, else None
    (a non-GQA architecture, unequal counts across layers or groups, a layer without heads)."""
    ad = adapter_for(model)
    if not isinstance(ad, GroupedProjections):
        return None
    counts = set()
    for owner, attr in ad.sites(model):
        attn = getattr(owner, attr)
        if isinstance(attn, EmptyAttention):
            return None
        n, kv = ad.n_heads(attn), ad.n_kv_heads(attn)
        if n == 0 or n % kv or not torch.equal(ad.kv_index(attn), torch.arange(n) // (n // kv)):
            return None
        counts.add((n, kv))
    return counts.pop() if len(counts) == 1 else None


def _out_biases(model: nn.Module) -> list[nn.Linear]:
    ad = adapter_for(model)
    return [getattr(getattr(o, a), ad.o) for o, a in ad.sites(model) if getattr(getattr(getattr(o, a), ad.o), "bias", None) is not None]


def standard_problem(model: nn.Module) -> str | None:
    """Why :func:`save_standard` cannot write ``model`` (None: it can): the layout is not regular; an output-projection
    bias (FLAP's compensation) on an architecture whose config cannot declare one (only Llama's ``attention_bias``
    can); or transformers refuses the rewritten config (Llama's needs ``hidden_size`` divisible by the heads kept)."""
    if getattr(model.config, "hpbench_pruned_neurons", None):
        return "FFN neurons are pruned (the layers' FFN widths are not the config's intermediate_size)"
    counts = regular_heads(model)
    if counts is None:
        return "the kept structure is not regular (the same query and KV head counts in every layer and group)"
    if _out_biases(model) and architecture_for(model).out_bias_flag is None:
        return f"{model.config.model_type}'s config cannot declare the output-projection bias FLAP adds"
    d = model.config.to_dict()
    d.update(num_attention_heads=counts[0], num_key_value_heads=counts[1],
             head_dim=getattr(model.config, "head_dim", None) or d["hidden_size"] // d["num_attention_heads"])
    try:
        type(model.config)(**{k: v for k, v in d.items() if not k.startswith("hpbench_")})
    except Exception as e:  # noqa: BLE001 (transformers' validators raise several types)
        return f"transformers refuses the rewritten config ({str(e).splitlines()[-1].strip()})"
    return None


def standard_ok(model: nn.Module) -> bool:
    return standard_problem(model) is None


@contextmanager
def _as_standard_config(model: nn.Module, heads: int, kv: int) -> Iterator[None]:
    cfg = model.config
    old = dict(cfg.__dict__)
    cfg.num_attention_heads, cfg.num_key_value_heads = heads, kv
    cfg.head_dim = getattr(cfg, "head_dim", None) or old["hidden_size"] // old["num_attention_heads"]
    for k in ("hpbench_pruned_heads", "hpbench_out_bias"):
        cfg.__dict__.pop(k, None)
    try:
        yield
    finally:
        cfg.__dict__.clear()
        cfg.__dict__.update(old)


def save_standard(model: nn.Module, path: str | os.PathLike, tokenizer=None) -> None:
    """Write a regularly pruned decoder as a standard transformers checkpoint (module docstring). With an output
    bias (an architecture with ``out_bias_flag``: Llama's ``attention_bias=True``), zero Q/K/V biases make the same
    function."""
    why = standard_problem(model)
    if why is not None:
        raise ValueError(f"no standard checkpoint for this pruned model: {why}; save it with "
                         "hpbench.save_pretrained(..., standard=False) and load it with hpbench.from_pretrained")
    heads, kv = regular_heads(model)
    ad = adapter_for(model)
    added = []
    if _out_biases(model):
        for owner, attr in ad.sites(model):
            attn = getattr(owner, attr)
            for p in (ad.q, ad.k, ad.v, ad.o):
                lin = getattr(attn, p)
                if lin.bias is None:
                    lin.bias = nn.Parameter(torch.zeros(lin.out_features, dtype=lin.weight.dtype, device=lin.weight.device))
                    added.append(lin)
    try:
        with _as_standard_config(model, heads, kv):
            if added:
                setattr(model.config, architecture_for(model).out_bias_flag, True)
            impl = model.config._attn_implementation
            model.config._attn_implementation = "sdpa"
            try:
                model.save_pretrained(path)
            finally:
                model.config._attn_implementation = impl
    finally:
        for lin in added:
            lin.bias = None
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
