"""Pruning units: which sets of heads go together when a score ranking becomes a keep mask.

``gqa_unit`` (grouped-query attention; a model without grouped KV heads has groups of one query head):

* ``query``: query heads one by one, ranked globally (a KV head goes when its whole group is gone);
* ``group``: a KV head with all its query heads is one unit, scored by the **mean** of its query heads' scores;
  ``round(n / group size)`` groups are pruned (the share is the requested one rounded to whole groups);
* ``balanced``: every group of a layer keeps the same number of query heads: the unit is "the weakest remaining
  query head of every group of one layer", scored by the mean of those heads' scores (a layer's units are
  pruned weakest first), ``round(n / groups per layer)`` units.

``layer_uniform`` (any architecture; TextPruner's "even heads"): every layer prunes the same number of units,
each layer its weakest, ``round(n / (layers x unit size))`` per layer. With ``balanced`` (or ``group``) the kept
structure is regular: the same query and KV head counts everywhere (a standard checkpoint for decoders).
"""
from __future__ import annotations

import math

import torch

GQA_UNITS = ("query", "group", "balanced")


def check_unit(gqa_unit: str, layer_uniform: bool) -> None:
    if gqa_unit not in GQA_UNITS:
        raise ValueError(f"gqa_unit {gqa_unit!r} is not one of {GQA_UNITS}")
    if not isinstance(layer_uniform, bool):
        raise ValueError(f"layer_uniform must be True or False, got {layer_uniform!r}")


def check_unit_ranking(gqa_unit: str, layer_uniform: bool, *, iterative: bool, searches: list[str]) -> None:
    """Units rank one-shot scores: refuse iterative pruning and mask searches (``searches``: their specs) with them."""
    if (gqa_unit, layer_uniform) == ("query", False) or not (iterative or searches):
        return
    raise ValueError(f"gqa_unit={gqa_unit!r}, layer_uniform={layer_uniform!r} rank one-shot scores into units; "
                     f"{'iterative=True' if iterative else 'the mask searches ' + str(searches)} cannot (allowed with "
                     "them: gqa_unit='query', layer_uniform=False)")


def _round_units(n: int, size: int, available: int) -> int:
    return min(available, int(math.floor(n / size + 0.5)))


def _units(scores: torch.Tensor, n_kv: int, gqa_unit: str) -> tuple[list[list[list[int]]], list[list[float]]]:
    """Per layer, the chain of units in the order they may go (each a list of head indices) and their scores."""
    L, H = scores.shape
    if H % n_kv:
        raise ValueError(f"{H} query heads do not split into {n_kv} KV groups")
    size = H // n_kv
    groups = [list(range(g * size, (g + 1) * size)) for g in range(n_kv)]
    units, values = [], []
    for l in range(L):
        s = scores[l].double()
        if gqa_unit == "query":
            order = torch.sort(s, stable=True).indices.tolist()
            u = [[h] for h in order]
        elif gqa_unit == "group":
            means = [float(s[g].mean()) for g in groups]
            u = [groups[g] for g in sorted(range(n_kv), key=lambda g: (means[g], g))]
        else:  # balanced: the j-th weakest query head of every group
            ranked = [[g[i] for i in torch.sort(s[g], stable=True).indices.tolist()] for g in groups]
            u = [[r[j] for r in ranked] for j in range(size)]
        units.append(u)
        values.append([float(s[x].mean()) for x in u])
    return units, values


def unit_keep(scores: torch.Tensor, n_prune: int, n_kv: int, gqa_unit: str = "query",
              layer_uniform: bool = False) -> torch.Tensor:
    """Keep mask ``[L, H]`` pruning about ``n_prune`` heads in whole units (module docstring); lowest scores go."""
    check_unit(gqa_unit, layer_uniform)
    scores = torch.nan_to_num(scores.detach().float().cpu(), nan=-math.inf)
    L, H = scores.shape
    units, values = _units(scores, n_kv, gqa_unit)
    size = len(units[0][0])
    keep = torch.ones(L, H, dtype=torch.bool)
    if layer_uniform:
        k = _round_units(n_prune, L * size, len(units[0]))
        chosen = [(l, j) for l in range(L) for j in range(k)]
    else:
        # a unit may go only after the units before it in its layer's chain: rank by the running max of the chain
        ranked = []
        for l in range(L):
            run = -math.inf
            for j, v in enumerate(values[l]):
                run = max(run, v)
                ranked.append((run, j, l))
        ranked.sort(key=lambda t: (t[0], t[2], t[1]))
        chosen = [(l, j) for _, j, l in ranked[: _round_units(n_prune, size, len(ranked))]]
    for l, j in chosen:
        keep[l, units[l][j]] = False
    return keep
