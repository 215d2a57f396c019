"""``his_mean``: HIS's ranking, and each pruned model compensated by mean ablation of the heads it loses.

Pruning head h of a layer removes its context x_h from the output projection's input; mean ablation replaces it by
its mean x̄_h over calibration tokens instead of 0 (the compensation FLAP applies to its own ranking, An et al. 2024;
"mean ablation" in the interpretability literature). Folded into the output bias, each level's model is

    b_O' = b_O + Σ_{pruned h} W_O[:, h] x̄_h,

so every level carries its own weights: the plan's ``weights`` (no edit anywhere else: the run stores, evaluates and
never lends such a level's evaluation to other criteria). hpbench's own combination, not a paper's method.
"""
from __future__ import annotations

import time

import torch

from .base import ScoringContext, register_criterion
from .flap import _stats, compensate_bias
from .his import his
from .masks import keep_from_scores
from .plan import PruningPlan


def _his(ctx: ScoringContext) -> torch.Tensor:
    return his(ctx)


def _mask(ctx: ScoringContext, n_prune: int) -> PruningPlan:
    keep = keep_from_scores(_his(ctx), n_prune)
    if n_prune == 0:
        return PruningPlan(keep)
    t0 = time.perf_counter()
    weights = compensate_bias(ctx.model, keep, _stats(ctx))
    return PruningPlan(keep, weights=weights, costs={"compensation_seconds": time.perf_counter() - t0})


@register_criterion("his_mean", mask_fn=_mask, rescoring=False)
def his_mean(ctx: ScoringContext) -> torch.Tensor:
    """HIS (Michel et al. 2019), pruned heads mean-ablated into the output bias."""
    return _his(ctx)
