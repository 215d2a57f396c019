"""From scores to masks: normalisations, global ranking, and the keep mask at every sparsity."""
from __future__ import annotations

import dataclasses
import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from .base import Criterion, MaskResult, ScoringContext
from .plan import merge_costs
from .units import check_unit_ranking, unit_keep



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


def _kv_heads(model, heads: int) -> int:
    """KV heads per layer of an unpruned model (= query heads without grouped-query attention)."""
    kv = getattr(getattr(model, "config", None), "num_key_value_heads", None)
    return int(kv) if kv else heads


@dataclass
class CriterionMasks:
    """One criterion's output for one seed: its head scores ``[L, H]`` (higher = keep), a
    :class:`MaskResult` per sparsity, and the run's cost/diagnostic info (scalars)."""

    scores: torch.Tensor
    levels: dict[float, MaskResult]
    info: dict[str, Any] = field(default_factory=dict)


def _as_result(out: Any) -> MaskResult:
    return out if isinstance(out, MaskResult) else MaskResult(torch.as_tensor(out))


def merge_info(levels: Sequence[MaskResult]) -> dict[str, Any]:
    """Scalar info of all levels: each plan's ``costs`` added up, its ``info`` taken as reported
    (:func:`hpbench.criteria.plan.merge_costs`)."""
    return merge_costs(list(levels))


def masks_for_sparsities(crit: Criterion, params: dict, ctx: ScoringContext, sparsities: Sequence[float], *,
                         iterative: bool = False, gqa_unit: str = "query", layer_uniform: bool = False) -> CriterionMasks:
    """Keep masks for each sparsity, the criterion's scores at full model, and cost info.

    One-shot: score once, prune the lowest ``round(s * heads)``. Iterative (Michel et al. 2019):
    from the previous level's mask, re-score under it and prune the next lowest heads.
    Mask-search criteria (``mask_fn``) search each level themselves. ``ctx`` is not modified. Other pruning
    units than single query heads (``gqa_unit``, ``layer_uniform``; :mod:`hpbench.criteria.units`) prune whole
    units, so the share pruned is the requested one rounded to whole units.
    """
    structured = (gqa_unit, layer_uniform) != ("query", False)
    check_unit_ranking(gqa_unit, layer_uniform, iterative=iterative, searches=[crit.name] if crit.mask_fn else [])
    sparsities = validate_sparsities(sparsities)
    L, H = ctx.shape
    total = L * H
    t0 = time.perf_counter()
    ctx = dataclasses.replace(ctx.under(None), info={})  # this criterion's own record of chosen settings
    scores = crit.fn(ctx, **params).detach().float().cpu()
    if tuple(scores.shape) != (L, H):
        raise ValueError(f"criterion {crit.name!r} returned scores of shape {tuple(scores.shape)}, expected {(L, H)}")
    levels: dict[float, MaskResult] = {}
    keep = torch.ones(L, H, dtype=torch.bool)
    for s in sparsities:
        n = n_to_prune(total, s)
        if structured:
            res = MaskResult(unit_keep(scores, n, _kv_heads(ctx.model, H), gqa_unit, layer_uniform))
            n = int((~res.keep).sum())
        elif crit.mask_fn is not None:
            level = {"sparsity": s} if "sparsity" in inspect.signature(crit.mask_fn).parameters else {}
            res = _as_result(crit.mask_fn(ctx, n, **params, **level))
            if res.ffn_keep is not None:  # searched under a FLOPs budget: any number of heads
                n = int((~torch.as_tensor(res.keep).bool()).sum())
        elif iterative and crit.rescoring and n > 0:
            keep = keep_from_scores(crit.fn(ctx.under(keep), **params).detach().float().cpu(), n, keep)
            res = MaskResult(keep.clone())
        else:
            res = MaskResult(keep_from_scores(scores, n))
        res.keep = torch.as_tensor(res.keep).bool().cpu()
        if crit.compensate is not None and res.model is None:
            res.model = crit.compensate(ctx, res.keep, **params)
        if tuple(res.keep.shape) != (L, H) or int((~res.keep).sum()) != n:
            raise RuntimeError(f"criterion {crit.name!r} returned a mask of shape {tuple(res.keep.shape)} pruning "
                               f"{int((~res.keep).sum())} heads at sparsity {s}; expected {(L, H)} pruning {n}")
        levels[s] = res
    return CriterionMasks(scores, levels, {"score_seconds": time.perf_counter() - t0, **dict(ctx.info),
                                           **merge_info(list(levels.values()))})
