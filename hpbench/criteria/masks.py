"""From scores to masks: normalisations, global ranking, and the keep mask at every sparsity."""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from .base import Criterion, MaskResult, ScoringContext
from .plan import PruningPlan, merge_costs
from .strategies import STRATEGIES, Level, exact_count, keep_from_scores, strategy_for  # noqa: F401 (keep_from_scores: re-exported)
from .units import check_unit_ranking



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


@dataclass
class CriterionMasks:
    """One criterion's output for one seed: its head scores ``[L, H]`` (higher = keep), a
    :class:`MaskResult` per sparsity, and the run's cost/diagnostic info (scalars)."""

    scores: torch.Tensor
    levels: dict[float, MaskResult]
    info: dict[str, Any] = field(default_factory=dict)


def _checked(plan: PruningPlan, crit: Criterion, ctx: ScoringContext, params: dict, s: float, n: int | None
             ) -> PruningPlan:
    """A strategy's plan with its mask on the CPU, the criterion's compensation applied (FLAP), checked: the model's
    head shape and, where the strategy prunes an exact count (``n``), that count."""
    plan.keep = torch.as_tensor(plan.keep).bool().cpu()
    if crit.compensate is not None and plan.weights is None:
        plan.weights = crit.compensate(ctx, plan.keep, **params)
    L, H = ctx.shape
    if tuple(plan.keep.shape) != (L, H) or (n is not None and plan.n_pruned != n):
        raise RuntimeError(f"criterion {crit.name!r} returned a mask of shape {tuple(plan.keep.shape)} pruning "
                           f"{plan.n_pruned} heads at sparsity {s}; expected {(L, H)} pruning "
                           f"{n if n is not None else 'any number of'}")
    return plan


def masks_for_sparsities(crit: Criterion, params: dict, ctx: ScoringContext, sparsities: Sequence[float], *,
                         iterative: bool = False, gqa_unit: str = "query", layer_uniform: bool = False) -> CriterionMasks:
    """Keep masks for each sparsity, the criterion's scores at full model, and cost info.

    Each level's plan comes from the run's strategy (:mod:`hpbench.criteria.strategies`): one-shot ranking, iterative
    re-scoring (Michel et al. 2019), the criterion's own search (``mask_fn``), or whole units (``gqa_unit``,
    ``layer_uniform``: the share pruned is the requested one rounded to whole units). ``ctx`` is not modified.
    """
    layer_uniform = layer_uniform or crit.layer_uniform  # (a method whose released allocation is per layer)
    structured = (gqa_unit, layer_uniform) != ("query", False)
    check_unit_ranking(gqa_unit, layer_uniform, iterative=iterative, searches=[crit.name] if crit.mask_fn else [])
    sparsities = validate_sparsities(sparsities)
    L, H = ctx.shape
    t0 = time.perf_counter()
    ctx = dataclasses.replace(ctx.under(None), info={})  # this criterion's own record of chosen settings
    scores = crit.fn(ctx, **params).detach().float().cpu()
    if tuple(scores.shape) != (L, H):
        raise ValueError(f"criterion {crit.name!r} returned scores of shape {tuple(scores.shape)}, expected {(L, H)}")
    name = strategy_for(crit, iterative=iterative, structured=structured)
    strategy, state = STRATEGIES.get(name), {}
    levels: dict[float, PruningPlan] = {}
    for s in sparsities:
        n = n_to_prune(L * H, s)
        plan = strategy(Level(crit, params, ctx, scores, s, n, gqa_unit, layer_uniform, state))
        levels[s] = _checked(plan, crit, ctx, params, s, n if exact_count(name) and plan.ffn_keep is None else None)
    return CriterionMasks(scores, levels, {"score_seconds": time.perf_counter() - t0, **dict(ctx.info),
                                           **({"layer_uniform": True} if layer_uniform else {}),
                                           **merge_costs(list(levels.values()))})
