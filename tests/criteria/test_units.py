"""Pruning units (hpbench.criteria.units) against hand counts and brute force: whole KV groups, balanced groups,
the same count in every layer; the share pruned is the requested one rounded to whole units."""
import itertools
import math

import pytest
import torch

from hpbench.criteria.units import unit_keep

L, H, KV = 3, 8, 4  # groups of 2 query heads: {0,1} {2,3} {4,5} {6,7}
SIZE = H // KV


def _scores(seed):
    return torch.randn(L, H, generator=torch.Generator().manual_seed(seed))


def _groups_pruned(keep):
    return [[(~keep[l, g * SIZE:(g + 1) * SIZE]).sum().item() for g in range(KV)] for l in range(L)]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [0, 1, 3, 5, 8, 12, 23])
def test_group_prunes_whole_groups_the_lowest_mean_ones_rounded_to_whole_groups(seed, n):
    s = _scores(seed)
    keep = unit_keep(s, n, KV, "group")
    counts = _groups_pruned(keep)
    assert all(c in (0, SIZE) for row in counts for c in row)  # never part of a group
    k = int(math.floor(n / SIZE + 0.5))
    assert int((~keep).sum()) == SIZE * k
    # brute force: the k groups with the smallest sum of mean scores
    means = {(l, g): s[l, g * SIZE:(g + 1) * SIZE].mean().item() for l in range(L) for g in range(KV)}
    best = min(itertools.combinations(means, k), key=lambda c: sum(means[x] for x in c))
    got = {(l, g) for l in range(L) for g in range(KV) if counts[l][g] == SIZE}
    assert sum(means[x] for x in got) == pytest.approx(sum(means[x] for x in best))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [0, 4, 6, 12, 20])
def test_balanced_keeps_equal_counts_in_every_group_of_a_layer_and_prunes_each_groups_weakest(seed, n):
    s = _scores(seed)
    keep = unit_keep(s, n, KV, "balanced")
    counts = _groups_pruned(keep)
    assert all(len(set(row)) == 1 for row in counts)
    assert int((~keep).sum()) == KV * int(math.floor(n / KV + 0.5))
    for l in range(L):
        for g in range(KV):
            heads = list(range(g * SIZE, (g + 1) * SIZE))
            pruned = [h for h in heads if not keep[l, h]]
            kept = [h for h in heads if keep[l, h]]
            assert not pruned or not kept or max(s[l, pruned]) <= min(s[l, kept])  # a group's weakest go first


@pytest.mark.parametrize("unit", ["query", "group", "balanced"])
@pytest.mark.parametrize("n", [3, 8, 12])
def test_layer_uniform_prunes_the_same_number_in_every_layer(unit, n):
    s = _scores(7)
    keep = unit_keep(s, n, KV, unit, layer_uniform=True)
    per_layer = (~keep).sum(1).tolist()
    size = {"query": 1, "group": SIZE, "balanced": KV}[unit]
    assert per_layer == [size * int(math.floor(n / (L * size) + 0.5))] * L
    if unit == "query":  # each layer its own weakest heads
        for l in range(L):
            assert set(torch.sort(s[l]).indices[: per_layer[l]].tolist()) == set((~keep[l]).nonzero().flatten().tolist())


def test_query_unit_equals_the_global_ranking():
    from hpbench.criteria.masks import keep_from_scores

    s = _scores(3)
    for n in range(L * H + 1):
        assert torch.equal(unit_keep(s, n, KV, "query"), keep_from_scores(s, n))


def test_bad_units_are_named():
    with pytest.raises(ValueError, match=r"gqa_unit 'heads' is not one of \('query', 'group', 'balanced'\)"):
        unit_keep(_scores(0), 2, KV, "heads")


def test_units_with_iterative_or_a_mask_search_are_refused_before_work(tmp_path):
    from hpbench.run import RunConfig

    for kw, what in ((dict(iterative=True), "iterative=True"), (dict(criteria=["his", "astar"]), "astar")):
        with pytest.raises(ValueError, match=what):
            RunConfig(gqa_unit="group", results_dir=str(tmp_path / "r"), **kw).validate()
    assert not (tmp_path / "r").exists()
