"""A* search over sets of pruned heads under an accuracy bound (after Parnami, Singh, Joshi 2021).

The paper (arXiv 2110.15225) searches for a pruned head set with a strict accuracy guarantee; its
state space, cost and heuristic could not be read here and no code exists, so this is hpbench's
own formulation, stated fully:

* **State** S: a set of pruned heads; start S = {} (the unpruned fine-tuned model).
* **Successors** of S: S u {r} for a head r not in S, tried in order of a cheap score (HIS,
  per-layer normalised, lowest first); with ``branching=b`` expansion stops after b admissible children.
* **Admissible** (the accuracy guarantee): v(S) >= v({}) - epsilon, with v the main metric of the
  model with S gated off on a fixed held-out *validation subset of the training split* (never the
  reported dev data).
* **Objective**: maximise |S| over admissible S. A* is run as maximisation with
  f(S) = g(S) + h(S), g(S) = |S| and h(S) = an optimistic bound on how many more heads can be
  pruned: the number of heads r whose addition to S's parent was admissible (A(parent) \\ S). When
  the metric is monotone (pruning more never helps), a head that breaks the bound at the parent
  breaks it for every descendant, so h never underestimates: the first state popped with h = 0 is
  optimal (exact search when ``branching=None``).
* **Cost** = evaluations: every evaluated mask is cached; the search stops at ``max_evals`` or
  ``max_seconds`` and returns the largest admissible set found.
* Ties in f: more heads pruned first, then smaller drop, then lexicographic order (deterministic).

For the sweep, the mask at k heads pruned is the admissible state of size k with the best
validation metric seen; if none was reached, the best found set is completed by lowest HIS
(the ``astar_within_bound`` column of the results says which).
"""
from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from ..evaluation.evaluate import evaluate
from .base import MaskResult, ScoringContext, register_criterion
from .masks import layer_l2


@dataclass
class SearchResult:
    best: frozenset
    value: float
    base: float
    evaluations: int
    seconds: float
    optimal: bool
    cache: dict[frozenset, float] = field(repr=False)


def astar_prune(evaluate: Callable[[frozenset], float], n_heads: int, epsilon: float, *,
                cheap_scores: Sequence[float] | None = None, branching: int | None = None,
                max_evals: int = 10_000, max_seconds: float = float("inf")) -> SearchResult:
    """Largest set of heads (ids 0..n_heads-1) whose removal keeps ``evaluate(S) >= evaluate({}) - epsilon``.

    Pure search over an ``evaluate(frozenset) -> metric`` callable (tested against exhaustive search).
    """
    if epsilon < 0:
        raise ValueError(f"epsilon={epsilon!r} must be >= 0 (allowed drop of the metric)")
    t0 = time.perf_counter()
    cache: dict[frozenset, float] = {}
    order = list(range(n_heads)) if cheap_scores is None else sorted(range(n_heads), key=lambda i: (cheap_scores[i], i))
    rank = {h: i for i, h in enumerate(order)}

    def value(s: frozenset) -> float:
        if s not in cache:
            cache[s] = float(evaluate(s))
        return cache[s]

    def out_of_budget() -> bool:
        return len(cache) >= max_evals or time.perf_counter() - t0 > max_seconds

    root = frozenset()
    base = value(root)
    bound = base - epsilon
    best, best_v = root, base
    tie = itertools.count()
    # max-heap on f via (-f, -|S|, drop, tiebreak, S, allowed heads, is_goal)
    heap = [(-n_heads, 0, 0.0, next(tie), root, tuple(order), False)]
    closed: set[frozenset] = set()
    optimal = False
    while heap and not out_of_budget():
        _, _, _, _, s, allowed, is_goal = heapq.heappop(heap)
        if is_goal:  # f(S) = |S| exactly and no frontier state has a larger bound
            optimal = branching is None  # with a branching limit the frontier is incomplete
            best, best_v = s, cache[s]
            break
        if s in closed:
            continue
        closed.add(s)
        # candidates in cheap-score order; with ``branching=b`` stop once b admissible children are found
        cands = sorted((h for h in allowed if h not in s), key=lambda h: rank[h])
        admissible = []
        for h in cands:
            if out_of_budget() or (branching is not None and len(admissible) >= branching):
                break
            if value(s | {h}) >= bound:
                admissible.append(h)
        for h in admissible:
            child = s | {h}
            v = cache[child]
            if len(child) > len(best) or (len(child) == len(best) and v > best_v):
                best, best_v = child, v
            if child not in closed:
                f = len(child) + len(admissible) - 1  # optimistic: only heads admissible at S can follow
                heapq.heappush(heap, (-f, -len(child), base - v, next(tie), child, tuple(admissible), False))
        if not admissible and not out_of_budget():  # no child keeps the bound: S is a leaf
            heapq.heappush(heap, (-len(s), -len(s), base - cache[s], next(tie), s, (), True))
    return SearchResult(best, best_v, base, len(cache), time.perf_counter() - t0, optimal, cache)


def _validation_evaluator(ctx: ScoringContext):
    """evaluate(S) = main metric on the validation subset with heads S gated off (cached per context)."""
    val = ctx.validation
    if val is None:
        raise ValueError("astar needs a validation subset (ScoringContext.validation); the sweep provides one")
    L, H = ctx.shape
    metric = ctx.task.main_metric

    def ev(s: frozenset) -> float:
        keep = torch.ones(L * H)
        keep[list(s)] = 0.0
        return evaluate(ctx.model, ctx.task, val, gates=keep.view(L, H), pad_id=ctx.pad_id, precision=ctx.precision)[metric]

    return ev


def _search(ctx: ScoringContext, epsilon: float, branching: int, max_evals: int, max_seconds: float) -> SearchResult:
    def run() -> SearchResult:
        cheap = layer_l2(ctx.stats().his).flatten().tolist()
        L, H = ctx.shape
        return astar_prune(_validation_evaluator(ctx), L * H, epsilon, cheap_scores=cheap,
                           branching=None if branching <= 0 else branching, max_evals=max_evals, max_seconds=max_seconds)

    return ctx.remember(("astar", epsilon, branching, max_evals, max_seconds), run)


def _astar_mask(ctx: ScoringContext, n_prune: int, epsilon: float = 0.01, branching: int = 8, max_evals: int = 300,
                max_seconds: float = 120.0) -> MaskResult:
    res = _search(ctx, epsilon, branching, max_evals, max_seconds)
    L, H = ctx.shape
    bound = res.base - epsilon
    same = [(v, sorted(s)) for s, v in res.cache.items() if len(s) == n_prune and v >= bound]
    if same:
        chosen = set(max(same)[1])
    else:
        chosen = set(res.best) if len(res.best) <= n_prune else set(sorted(res.best)[:n_prune])
        cheap = layer_l2(ctx.stats().his).flatten()
        for h in sorted(range(L * H), key=lambda i: (float(cheap[i]), i)):
            if len(chosen) >= n_prune:
                break
            chosen.add(h)
    keep = torch.ones(L * H, dtype=torch.bool)
    keep[list(chosen)] = False
    info = {"evaluations": res.evaluations, "search_seconds": res.seconds, "astar_pruned_within_bound": len(res.best),
            "astar_base": res.base, "astar_value": res.value}
    return MaskResult(keep.view(L, H), info=info, within_bound=bool(same) or n_prune == 0)


@register_criterion("astar", mask_fn=_astar_mask)
def astar(ctx: ScoringContext, epsilon: float = 0.01, branching: int = 8, max_evals: int = 300,
          max_seconds: float = 120.0) -> torch.Tensor:
    """A* search for the largest head set prunable within ``epsilon`` of the unpruned metric (hpbench's formulation).

    Scores for the head maps: 1 for heads the search keeps, 0 for heads in the best pruned set,
    plus a small HIS tie-break."""
    res = _search(ctx, epsilon, branching, max_evals, max_seconds)
    L, H = ctx.shape
    s = torch.ones(L * H)
    s[list(res.best)] = 0.0
    return s.view(L, H) + 1e-3 * layer_l2(ctx.stats().his)
