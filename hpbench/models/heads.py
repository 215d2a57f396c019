"""Head gating, attention capture and physical head pruning for transformers 5 encoders.

transformers 5 removed ``head_mask`` and ``prune_heads()``; this module replaces both:

* :class:`HeadGates` scales each head's context vector by a gate ``xi[l, h]`` with a forward
  pre-hook on the attention output projection (BERT: ``attention.output.dense``), i.e.
  ``MHA(x) = W_O [xi_1 Att_1(x); ...; xi_H Att_H(x)] + b_O`` (Michel et al. 2019, eq. 3).
* :func:`prune_heads` removes heads physically with ``prune_linear_layer`` on Q, K, V (rows) and
  W_O (columns), so a pruned model computes exactly what the gated model (gate 0) computes.
* Pruned models save with ``save_pretrained`` (the pruned heads go into ``config.hpbench_pruned_heads``)
  and load with :func:`from_pretrained`.

Which modules hold the heads is each architecture's adapter's business (:mod:`hpbench.models.adapters`,
keyed by ``config.model_type``): the BERT family, DistilBERT and ViT are built in.
"""
from __future__ import annotations

import copy
import os
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn
from .adapters import adapter_for
from .hooks import HookGroup
from .masks import mask_from_key, mask_to_key  # noqa: F401  (re-exported: the mask encoding lives in masks.py)


def attention_blocks(model: nn.Module) -> list[nn.Module]:
    """The attention module of every layer in layer order, as its adapter reads it (BERT family: the
    ``BertAttention`` with ``.self`` and ``.output.dense``)."""
    ad = adapter_for(model)
    return [ad.module(o, a) for o, a in ad.sites(model)]


def head_shape(model: nn.Module) -> tuple[int, int]:
    """(layers, heads per layer) of the *unpruned* configuration."""
    s = adapter_for(model).shape(model.config)
    return s.layers, s.heads


def head_weight_norms(model: nn.Module) -> torch.Tensor:
    """[L, H]: the L2 norm of each head's weights, its Q/K/V rows and O columns together (a KV head shared by a
    group counts for each of its query heads), via the adapter's :meth:`head_blocks`. Pruned heads: 0."""
    ad = adapter_for(model)
    keep = keep_mask_from_pruned(model)
    out = torch.zeros(keep.shape)
    for layer, (owner, attr) in enumerate(ad.sites(model)):
        attn = ad.module(owner, attr)
        if ad.n_heads(attn) == 0:
            continue
        d = ad.head_dim(attn)
        sq = torch.zeros(ad.n_heads(attn), dtype=torch.float64)
        for w, axis, index in ad.head_blocks(attn):
            w = w.detach().double().cpu()
            blocks = (w if axis == 0 else w.T).reshape(-1, d, w.shape[1 - axis]).pow(2).sum((1, 2))  # [blocks]
            sq += blocks if index is None else blocks[index]
        out[layer, keep[layer]] = sq.sqrt().float()
    return out


def heads_per_layer(model: nn.Module) -> list[int]:
    """Current number of heads in each layer (smaller than the config's after physical pruning)."""
    ad = adapter_for(model)
    return [ad.n_heads(m) for m in attention_blocks(model)]


class HeadGates(HookGroup):
    """Multiply each head's attention output by a gate.

    ``gates`` has shape ``[layers, heads]`` (one gate per head) or ``[batch, layers, heads]``
    (per-example gates, used to get per-example gradients ``dL_x / d xi`` in one backward pass).
    Assign ``.gates`` at any time; ``None`` disables gating. Use as a context manager or call
    :meth:`remove`.
    """

    def __init__(self, model: nn.Module, gates: torch.Tensor | None = None) -> None:
        self.adapter = adapter_for(model)
        self.blocks = attention_blocks(model)
        self.gates = gates
        outs = [(i, self.adapter.out_proj(b)) for i, b in enumerate(self.blocks)]
        self._handles = [o.register_forward_pre_hook(self._make_hook(i)) for i, o in outs if o is not None]

    def _make_hook(self, layer: int):
        block = self.blocks[layer]

        def hook(module: nn.Module, args: tuple) -> tuple | None:
            g = self.gates
            if g is None:
                return None
            (x, *rest) = args
            n_heads = self.adapter.n_heads(block)
            d = self.adapter.head_dim(block)
            gl = g[..., layer, :]
            if gl.shape[-1] != n_heads:
                raise ValueError(
                    f"gate for layer {layer} has {gl.shape[-1]} heads, the layer has {n_heads}"
                )
            xs = x.view(*x.shape[:-1], n_heads, d)
            gl = gl.to(device=x.device, dtype=x.dtype)  # gates may live on the CPU or in fp32
            if gl.dim() == 1:
                xs = xs * gl.view(*([1] * (xs.dim() - 2)), n_heads, 1)
            else:  # per-example gates [B, H]
                xs = xs * gl.view(gl.shape[0], *([1] * (xs.dim() - 3)), n_heads, 1)
            return (xs.reshape(x.shape), *rest)

        return hook


@contextmanager
def gated(model: nn.Module, gates: torch.Tensor | None) -> Iterator[HeadGates]:
    """Context manager: run ``model`` with head gates (``None`` = no gating)."""
    g = HeadGates(model, gates)
    try:
        yield g
    finally:
        g.remove()


def _check_mask(model: nn.Module, keep: torch.Tensor) -> torch.Tensor:
    keep = torch.as_tensor(keep).bool()
    want = head_shape(model)
    if tuple(keep.shape) != want:
        raise ValueError(f"head mask has shape {tuple(keep.shape)}; this model needs {want} (layers, heads)")
    return keep


def prune_heads(model: nn.Module, keep: torch.Tensor) -> nn.Module:
    """Physically remove the heads where ``keep[l, h]`` is False (in place; returns ``model``).

    ``keep`` is indexed by the *original* head numbers. Heads already pruned stay pruned.
    """
    keep = _check_mask(model, keep)
    ad = adapter_for(model)
    done: dict[str, list[int]] = {str(k): list(v) for k, v in getattr(model.config, "hpbench_pruned_heads", {}).items()}
    for layer, (owner, attr) in enumerate(ad.sites(model)):
        already = sorted(done.get(str(layer), []))
        remaining = [h for h in range(keep.shape[1]) if h not in already]  # original ids, in order
        drop = [h for h in remaining if not keep[layer, h]]
        if not drop:
            continue
        ad.prune(owner, attr, [i for i, h in enumerate(remaining) if keep[layer, h]])
        done[str(layer)] = sorted(already + drop)
    model.config.hpbench_pruned_heads = done
    if any(done.values()):
        ad.after_prune(model)
    return model


@contextmanager
def pruned(model: nn.Module, keep: torch.Tensor) -> Iterator[nn.Module]:
    """``model`` physically pruned to ``keep`` inside the block, exactly as it was after it.

    The pruned Q/K/V/O layers are new modules (``prune_linear_layer`` copies the kept rows), so the
    originals are simply put back on exit; every other weight is shared, not copied. This replaces a
    ``prune_heads(copy.deepcopy(model), keep)`` per mask, whose Python object walk cost ~36 ms per copy
    (the largest hpbench cost in a GPU cell's profile)."""
    ad = adapter_for(model)
    saved = [(o, a, ad.state(o, a)) for o, a in ad.sites(model)]
    had = hasattr(model.config, "hpbench_pruned_heads")
    before = copy.deepcopy(getattr(model.config, "hpbench_pruned_heads", None))
    impl = model.config._attn_implementation
    try:
        yield prune_heads(model, keep)
    finally:
        for owner, attr, state in saved:
            ad.restore(owner, attr, state)
        if model.config._attn_implementation != impl:
            model.set_attn_implementation(impl)
        if had:
            model.config.hpbench_pruned_heads = before
        elif hasattr(model.config, "hpbench_pruned_heads"):
            delattr(model.config, "hpbench_pruned_heads")


def save_pretrained(model: nn.Module, path: str | os.PathLike, tokenizer=None, standard: bool | str = "auto") -> str:
    """``model.save_pretrained`` for a pruned model; returns the format written.

    ``"standard"``: a decoder pruned to a regular structure (the same query and KV head counts in every layer and
    group; :mod:`hpbench.models.standard`) becomes an ordinary checkpoint with rewritten head counts, which plain
    transformers loads (``standard="auto"``: whenever possible; True: required; False: never). ``"hpbench"``: the
    pruned heads travel in ``config.hpbench_pruned_heads`` and weights under the model's own parameter names;
    :func:`from_pretrained` loads it, and also a pruned model written by transformers' own ``model.save_pretrained``
    (which renames some architectures' keys to their legacy hub names on save, e.g. ViT's)."""
    from .standard import save_standard, standard_ok

    pruned = bool(getattr(model.config, "hpbench_pruned_heads", None) or getattr(model.config, "hpbench_pruned_neurons", None))
    if standard is True or (standard == "auto" and pruned and standard_ok(model)):
        save_standard(model, path, tokenizer)
        return "standard"
    model.save_pretrained(path)
    if pruned:
        from safetensors.torch import save_model

        for f in os.listdir(path):
            if f.endswith(".safetensors") or f.endswith(".safetensors.index.json"):
                os.remove(os.path.join(path, f))
        save_model(model, os.path.join(path, "model.safetensors"))
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    return "hpbench"


def out_projections(model: nn.Module) -> list[tuple[nn.Module, int]]:
    """Per layer, the attention output projection (its input: the concatenated head contexts) and the head size."""
    ad = adapter_for(model)
    return [(ad.out_proj(ad.module(owner, attr)), ad.head_dim(ad.module(owner, attr))) for owner, attr in ad.sites(model)]


def out_matrix(o: nn.Module) -> torch.Tensor:
    """An output projection's weight as ``[out, in]`` (float64, CPU): nn.Linear's, or GPT-2's Conv1D transposed."""
    w = o.weight.detach().double().cpu()
    return w if isinstance(o, nn.Linear) else w.t()


def visit_out_proj_inputs(model: nn.Module, encoded, visit, batch_size: int = 32, pad_id: int = 0) -> None:
    """Run ``model`` over ``encoded`` (length-bucketed batches) and call ``visit(layer, x)`` with each layer's
    output-projection input at the non-padding tokens, ``x`` ``[tokens, heads x head size]`` (float64, CPU)."""
    visit_inputs(model, [o for o, _ in out_projections(model)], encoded, visit, batch_size, pad_id)


@torch.no_grad()
def visit_inputs(model: nn.Module, modules: list[nn.Module], encoded, visit, batch_size: int = 32, pad_id: int = 0) -> None:
    """Run ``model`` over ``encoded`` (length-bucketed batches) and call ``visit(i, x)`` with the input of
    ``modules[i]`` at the non-padding tokens, ``x`` ``[tokens, width]`` (float64, CPU)."""
    from ..tasks.encoding import batches, model_inputs

    mask: dict[str, torch.Tensor] = {}

    def hook(l: int):
        def fn(_mod, args):
            x = args[0].detach().double().cpu()
            visit(l, x[mask["m"]] if x.dim() == 3 else x)
        return fn

    handles = [o.register_forward_pre_hook(hook(l)) for l, o in enumerate(modules)]
    device = next(model.parameters()).device
    try:
        for b in batches(encoded, batch_size, bucket=True, pad_id=pad_id):
            inp = model_inputs(b, device)
            am = inp.get("attention_mask")
            mask["m"] = (am.bool() if am is not None else torch.ones(inp["input_ids"].shape, dtype=torch.bool)).cpu()
            model(**inp)
    finally:
        for h in handles:
            h.remove()


def scale_heads(model: nn.Module, scales: torch.Tensor) -> nn.Module:
    """A copy of ``model`` whose output-projection columns of head (l, h) are multiplied by ``scales[l, h]`` (the
    head's contribution to the layer output scales with it; mask tuning's real-valued masks, Kwon et al. 2022)."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for l, (o, d) in enumerate(out_projections(out)):
            s = torch.repeat_interleave(scales[l].to(o.weight.dtype), d).to(o.weight.device)
            if isinstance(o, nn.Linear):
                o.weight.mul_(s[None, :])
            else:  # Conv1D: weight [in, out]
                o.weight.mul_(s[:, None])
    return out


def add_out_bias(model: nn.Module, layers: list[int]) -> None:
    """Give the attention output projection of each of ``layers`` a (zero) bias where it has none (FLAP's bias
    compensation adds one; ``config.hpbench_out_bias`` lists the layers so a saved model is rebuilt with it)."""
    ad = adapter_for(model)
    sites = ad.sites(model)
    for l in layers:
        o = ad.out_proj(ad.module(*sites[l]))
        if o is not None and o.bias is None:
            out = o.weight.shape[0] if isinstance(o, nn.Linear) else o.weight.shape[1]
            o.bias = nn.Parameter(torch.zeros(out, dtype=o.weight.dtype, device=o.weight.device))


def _saved_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor of the ``*.safetensors`` files in ``path`` (one file or shards)."""
    from safetensors.torch import load_file

    files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors weights in {str(path)!r}; save the model with "
                                "hpbench.save_pretrained(model, path) or model.save_pretrained(path)")
    out: dict[str, torch.Tensor] = {}
    for f in files:
        out.update(load_file(os.path.join(path, f)))
    return out


def _to_model_names(model: nn.Module, saved: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``saved`` under ``model``'s parameter names: transformers' own checkpoint conversion rules (the renamings
    it applies when loading a hub checkpoint, e.g. ViT's legacy ``encoder.layer.N.attention.attention.query``)
    map keys written by ``model.save_pretrained``; keys that already are the model's names stay."""
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key

    own = model.state_dict()
    if set(saved) <= set(own):
        return saved
    transforms = get_model_conversion_mapping(model)
    renamings = [t for t in transforms if isinstance(t, WeightRenaming)]
    converters = [t for t in transforms if isinstance(t, WeightConverter)]
    out = {}
    for key, tensor in saved.items():
        new, converter = rename_source_key(key, renamings, converters, getattr(model, "base_model_prefix", None), own)
        if converter is not None:
            raise NotImplementedError(f"checkpoint key {key!r} needs transformers' tensor conversion {converter!r}; "
                                      "save pruned models of this architecture with hpbench.save_pretrained")
        out[new] = tensor
    return out


def _tied_names(model: nn.Module, loaded: dict[str, torch.Tensor]) -> set[str]:
    """Parameters that share their storage with a loaded one (tied embeddings: saved once, filled with it)."""
    own = model.state_dict()
    ptrs = {own[k].data_ptr() for k in loaded if k in own}
    return {k for k, v in own.items() if k not in loaded and v.data_ptr() in ptrs}


def from_pretrained(path: str | os.PathLike, model_class=None, **kwargs) -> nn.Module:
    """Load a model saved by :func:`save_pretrained` or by transformers' ``model.save_pretrained``, pruned or not.

    Builds the full architecture from the config, applies ``config.hpbench_pruned_heads``, then loads the saved
    weights (renamed to the model's names by transformers' conversion rules where needed), so shapes match.
    """
    from transformers import AutoConfig, AutoModel

    cfg = AutoConfig.from_pretrained(path)
    pruned = getattr(cfg, "hpbench_pruned_heads", None) or {}
    neurons = getattr(cfg, "hpbench_pruned_neurons", None) or {}
    cls = model_class
    if cls is None:
        import transformers

        arch = (cfg.architectures or [None])[0]
        cls = getattr(transformers, arch) if arch and hasattr(transformers, arch) else AutoModel
    if not pruned and not neurons:
        return cls.from_pretrained(path, **kwargs)
    cfg.hpbench_pruned_heads, cfg.hpbench_pruned_neurons = {}, {}
    model = cls.from_config(cfg, **kwargs) if hasattr(cls, "from_config") else cls._from_config(cfg, **kwargs)
    add_out_bias(model, getattr(cfg, "hpbench_out_bias", None) or [])
    if getattr(cfg, "hpbench_ffn_bias", None):
        from .ffn import add_ffn_bias

        add_ffn_bias(model, list(cfg.hpbench_ffn_bias))
    keep = torch.ones(head_shape(model), dtype=torch.bool)
    for layer, heads in pruned.items():
        keep[int(layer), list(heads)] = False
    prune_heads(model, keep)
    if neurons:
        from .ffn import ffn_shape, prune_neurons

        nkeep = torch.ones(ffn_shape(model), dtype=torch.bool)
        for layer, ids in neurons.items():
            nkeep[int(layer), list(ids)] = False
        prune_neurons(model, nkeep)
    weights = _to_model_names(model, _saved_tensors(path))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids") and m not in _tied_names(model, weights)]
    if unexpected or missing:
        raise RuntimeError(f"pruned checkpoint at {path} does not match: missing={missing[:5]} unexpected={unexpected[:5]}")
    model.eval()
    return model


def keep_mask_from_pruned(model: nn.Module) -> torch.Tensor:
    """``[layers, heads]`` bool mask of heads still present (original numbering)."""
    keep = torch.ones(head_shape(model), dtype=torch.bool)
    for layer, heads in (getattr(model.config, "hpbench_pruned_heads", None) or {}).items():
        keep[int(layer), list(heads)] = False
    return keep


__all__: Sequence[str] = [
    "attention_blocks", "head_shape", "head_weight_norms", "heads_per_layer", "HeadGates", "gated", "prune_heads", "pruned",
    "save_pretrained", "from_pretrained", "keep_mask_from_pruned", "mask_to_key", "mask_from_key",
]
