"""Strategies: how a criterion's scores (or its own search) become a pruning plan at each level.

A strategy is ``fn(level: Level) -> PruningPlan``, registered by name; :func:`strategy_for` picks the one a run
uses. Built in (after Torch-Pruning's split of importance and pruner):

* ``one-shot``: score once on the unpruned model, prune the ``n`` lowest heads (global ranking);
* ``iterative`` (Michel et al. 2019): from the previous level's mask, re-score under it and prune the next lowest;
* ``search``: the criterion searches or learns each level itself (``mask_fn``: A*, DSP, SMP, L0, Kwon et al.);
* ``units``: whole units ranked by the scores (KV groups, balanced groups, layer-uniform counts;
  :mod:`hpbench.criteria.units`).
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..core.registry import Registry
from .plan import PruningPlan
from .units import unit_keep


@dataclass
class Level:
    """What a strategy gets for one level: the criterion and its parameters, the scoring context, the scores on the
    unpruned model, the level and its head count, the unit settings, and ``state`` carried from level to level
    (the iterative strategy's current mask)."""

    crit: Any
    params: dict[str, Any]
    ctx: Any
    scores: torch.Tensor
    sparsity: float
    n_prune: int
    gqa_unit: str = "query"
    layer_uniform: bool = False
    state: dict[str, Any] = field(default_factory=dict)


STRATEGIES: Registry[Callable[[Level], PruningPlan]] = Registry("pruning strategy")


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


def one_shot(lv: Level) -> PruningPlan:
    return PruningPlan(keep_from_scores(lv.scores, lv.n_prune))


def iterative(lv: Level) -> PruningPlan:
    keep = lv.state.get("keep")
    if keep is None:
        keep = torch.ones_like(lv.scores, dtype=torch.bool)
    if lv.n_prune > 0:
        keep = keep_from_scores(lv.crit.fn(lv.ctx.under(keep), **lv.params).detach().float().cpu(), lv.n_prune, keep)
    lv.state["keep"] = keep
    return PruningPlan(keep.clone())


def search(lv: Level) -> PruningPlan:
    fn = lv.crit.mask_fn
    level = {"sparsity": lv.sparsity} if "sparsity" in inspect.signature(fn).parameters else {}
    out = fn(lv.ctx, lv.n_prune, **lv.params, **level)
    return out if isinstance(out, PruningPlan) else PruningPlan(torch.as_tensor(out))


def units(lv: Level) -> PruningPlan:
    cfg = getattr(getattr(lv.ctx, "model", None), "config", None)
    H = lv.scores.shape[1]
    kv = int(getattr(cfg, "num_key_value_heads", None) or H)
    return PruningPlan(unit_keep(lv.scores, lv.n_prune, kv, lv.gqa_unit, lv.layer_uniform))


for _name, _fn in (("one-shot", one_shot), ("iterative", iterative), ("search", search), ("units", units)):
    STRATEGIES.add(_name, _fn)


def strategy_for(crit: Any, *, iterative: bool = False, structured: bool = False) -> str:
    """The strategy a run uses for ``crit``: its units when pruning other units than single heads, its own search
    when it has one, iterative re-scoring when asked for (and the criterion changes under a mask), else one-shot."""
    if structured:
        return "units"
    if crit.mask_fn is not None:
        return "search"
    return "iterative" if iterative and crit.rescoring else "one-shot"


def exact_count(strategy: str) -> bool:
    """Whether a strategy's plans prune exactly the level's head count (units round to whole units; a search under a
    FLOPs budget chooses its own head count)."""
    return strategy != "units"
