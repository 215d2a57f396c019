"""The criterion interface, its registry and the helpers every criterion shares.

A criterion is a function ``fn(ctx: ScoringContext, **params) -> Tensor[layers, heads]`` whose
output is an importance score: **higher = keep**, the lowest are pruned first. Register one with::

    @hpbench.register_criterion("my_score")
    def my_score(ctx, temperature: float = 1.0):
        return -ctx.stats().entropy / temperature

Criteria that search for masks directly (A*, DSP) also give ``mask_fn(ctx, n_prune, **params)``
returning a ``[layers, heads]`` keep mask with exactly ``n_prune`` heads pruned.

A criterion is named in sweeps by a spec string: ``"his"`` or with parameters
``"hies:alpha=0.3,entropy_sign=1"``.
"""
from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from .registry import Registry
from .scoring import HeadStats, head_stats


@dataclass
class Criterion:
    name: str
    fn: Callable[..., torch.Tensor]
    description: str = ""
    mask_fn: Callable[..., torch.Tensor] | None = None
    protocol: str = "prune-after-finetune"  # or "prune-before-finetune" (SMP)
    rescoring: bool = True  # whether iterative re-scoring changes anything (False for random)

    @property
    def params(self) -> dict[str, Any]:
        sig = inspect.signature(self.fn)
        return {k: p.default for k, p in list(sig.parameters.items())[1:] if p.default is not inspect.Parameter.empty}


CRITERIA: Registry[Criterion] = Registry("criterion")


def register_criterion(name: str, *, mask_fn: Callable | None = None, protocol: str = "prune-after-finetune",
                       rescoring: bool = True):
    """Decorator registering ``fn(ctx, **params) -> scores [L, H]`` (higher = keep) under ``name``."""

    def deco(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        doc = inspect.getdoc(fn) or ""
        CRITERIA.add(name, Criterion(name, fn, doc.split("\n")[0], mask_fn, protocol, rescoring))
        return fn

    return deco


def list_criteria() -> list[str]:
    return CRITERIA.names()


def parse_spec(spec: str) -> tuple[Criterion, dict[str, Any]]:
    """``"name"`` or ``"name:key=value,key=value"`` -> (criterion, params), checked against its signature."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"criterion spec must be a non-empty string like 'his' or 'hies:alpha=0.5', got {spec!r}")
    name, _, rest = spec.partition(":")
    crit = CRITERIA.get(name.strip())
    allowed = crit.params
    params: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, raw = part.partition("=")
        key = key.strip()
        if not eq or key not in allowed:
            raise ValueError(f"criterion {name!r}: bad parameter {part!r}; allowed: "
                             + (", ".join(f"{k}={v!r}" for k, v in allowed.items()) or "none"))
        default = allowed[key]
        try:
            if isinstance(default, bool):
                if raw.strip().lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                val: Any = raw.strip().lower() in ("true", "1")
            elif isinstance(default, (int, float)) and default is not None:
                val = type(default)(float(raw)) if isinstance(default, int) else float(raw)
            else:
                val = raw.strip()
        except ValueError:
            raise ValueError(f"criterion {name!r}: {key}={raw!r} is not a {type(default).__name__}") from None
        params[key] = val
    return crit, params


@dataclass
class ScoringContext:
    """What a criterion may use: the fine-tuned model, the task, scoring examples and the seed.

    ``stats()`` runs the one-pass scorer (HIS + entropy) once and caches it, so ``his``, ``entropy``
    and ``hies`` share one pass. ``keep`` is the current mask (iterative pruning re-scores under it).
    ``extras`` carries what search methods need (e.g. a validation subset, a time budget).
    """

    model: Any
    task: Any
    encoded: Sequence[dict]
    seed: int = 0
    batch_size: int = 32
    keep: torch.Tensor | None = None
    pad_id: int = 0
    extras: dict[str, Any] = field(default_factory=dict)
    _stats: dict = field(default_factory=dict, repr=False)
    info: dict[str, Any] = field(default_factory=dict)  # criteria may report costs here

    def stats(self) -> HeadStats:
        keep = None if self.keep is None or bool(torch.as_tensor(self.keep).all()) else torch.as_tensor(self.keep)
        key = None if keep is None else tuple(keep.flatten().tolist())
        if key not in self._stats:
            self._stats[key] = head_stats(self.model, self.task, self.encoded, batch_size=self.batch_size,
                                          keep=keep, pad_id=self.pad_id)
        return self._stats[key]

    def generator(self, salt: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(int(self.seed) * 7919 + salt)

    @property
    def shape(self) -> tuple[int, int]:
        cfg = self.model.config
        return cfg.num_hidden_layers, cfg.num_attention_heads


# ------------------------------------------------------------------ normalisation and masks
def layer_l2(s: torch.Tensor, eps: float = 1e-20) -> torch.Tensor:
    """Divide each layer's scores by their L2 norm (Michel et al. 2019, after Molchanov et al. 2017)."""
    return s / s.norm(dim=-1, keepdim=True).clamp(min=eps)


def minmax(s: torch.Tensor, per: str = "global", eps: float = 1e-20) -> torch.Tensor:
    """Min-max scale to [0, 1], over all heads (``per="global"``) or within each layer (``"layer"``)."""
    if per == "global":
        lo, hi = s.min(), s.max()
    elif per == "layer":
        lo, hi = s.min(-1, keepdim=True).values, s.max(-1, keepdim=True).values
    else:
        raise ValueError(f"unknown normalisation scope {per!r}; allowed: 'global', 'layer'")
    return (s - lo) / (hi - lo).clamp(min=eps)


def validate_sparsities(sparsities: Sequence[float]) -> list[float]:
    """Sparsities must be a non-empty, strictly increasing list of numbers in [0, 1)."""
    if isinstance(sparsities, (int, float)):
        sparsities = [sparsities]
    try:
        vals = list(sparsities)
    except TypeError:
        raise ValueError(f"sparsities must be a list of numbers in [0, 1), got {sparsities!r}") from None
    if not vals:
        raise ValueError("sparsities is empty; give a list of fractions of heads to prune in [0, 1), e.g. [0, 0.1, 0.2]")
    out = []
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v < 1:
            raise ValueError(f"sparsity {v!r} is outside [0, 1); allowed: fractions of heads pruned, 0 <= s < 1")
        out.append(float(v))
    if any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"sparsities {out} must be strictly increasing without duplicates")
    return out


def n_to_prune(total: int, sparsity: float) -> int:
    """round(sparsity * total), halves rounded up."""
    return int(math.floor(round(sparsity * total, 9) + 0.5))


def keep_from_scores(scores: torch.Tensor, n_prune: int, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Keep mask pruning the ``n_prune`` lowest-scoring heads overall (global ranking; ties by index).

    With a current ``keep`` mask, already-pruned heads stay pruned and count toward ``n_prune``.
    """
    flat = scores.detach().flatten().double().clone()
    total = flat.numel()
    if not 0 <= n_prune <= total:
        raise ValueError(f"n_prune={n_prune} outside [0, {total}]")
    already = torch.zeros(total, dtype=torch.bool) if keep is None else ~torch.as_tensor(keep).bool().flatten()
    if int(already.sum()) > n_prune:
        raise ValueError(f"{int(already.sum())} heads already pruned, more than n_prune={n_prune}")
    flat[already] = -math.inf
    flat = torch.nan_to_num(flat, nan=-math.inf, neginf=-math.inf)
    order = torch.sort(flat, stable=True).indices
    out = torch.ones(total, dtype=torch.bool)
    out[order[:n_prune]] = False
    return out.view_as(scores)


def masks_for_sparsities(crit: Criterion, params: dict, ctx: ScoringContext, sparsities: Sequence[float], *,
                         iterative: bool = False) -> tuple[dict[float, torch.Tensor], torch.Tensor, dict]:
    """Keep masks for each sparsity, the criterion's scores at full model, and cost info.

    One-shot: score once, prune the lowest ``round(s * heads)``. Iterative (Michel et al. 2019):
    from the previous level's mask, re-score under it and prune the next lowest heads.
    Mask-search criteria (``mask_fn``) search each level themselves.
    """
    sparsities = validate_sparsities(sparsities)
    L, H = ctx.shape
    total = L * H
    t0 = time.perf_counter()
    ctx.keep = None
    scores = crit.fn(ctx, **params).detach().float().cpu()
    if tuple(scores.shape) != (L, H):
        raise ValueError(f"criterion {crit.name!r} returned scores of shape {tuple(scores.shape)}, expected {(L, H)}")
    masks: dict[float, torch.Tensor] = {}
    keep = torch.ones(L, H, dtype=torch.bool)
    for s in sparsities:
        n = n_to_prune(total, s)
        if crit.mask_fn is not None:
            masks[s] = torch.as_tensor(crit.mask_fn(ctx, n, **params)).bool().cpu()
        elif iterative and crit.rescoring and n > 0:
            ctx.keep = keep.clone()
            cur = crit.fn(ctx, **params).detach().float().cpu()
            keep = keep_from_scores(cur, n, keep)
            masks[s] = keep.clone()
        else:
            masks[s] = keep_from_scores(scores, n)
        if int((~masks[s]).sum()) != n:
            raise RuntimeError(f"criterion {crit.name!r} pruned {int((~masks[s]).sum())} heads at sparsity {s}, expected {n}")
    ctx.keep = None
    info = {"score_seconds": time.perf_counter() - t0, **ctx.info}
    return masks, scores, info
