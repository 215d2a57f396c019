import itertools

import pytest
import torch

from hpbench.criteria import ScoringContext, parse_spec
from hpbench.criteria.astar import astar_prune
from hpbench.criteria.dsp import gumbel_soft_topk, hard_topk_mask, learn_subset, sample_gumbel, tau_at
from hpbench.criteria.smp_distance import representation_distance, smp_objective
from conftest import tiny_batch, tiny_model


def _synthetic(n=7, seed=0):
    """A monotone metric over pruned sets: 1 - sum of head costs - pairwise interaction penalties."""
    g = torch.Generator().manual_seed(seed)
    cost = (torch.rand(n, generator=g) * 0.02).tolist()
    inter = (torch.rand(n, n, generator=g) * 0.01).tolist()

    def metric(s):
        s = sorted(s)
        return 1.0 - sum(cost[i] for i in s) - sum(inter[a][b] for a, b in itertools.combinations(s, 2))

    return metric, cost


def _exhaustive(metric, n, eps):
    base = metric(frozenset())
    best = 0
    for k in range(n + 1):
        for s in itertools.combinations(range(n), k):
            if metric(frozenset(s)) >= base - eps:
                best = max(best, k)
    return best


@pytest.mark.parametrize("seed,eps", [(0, 0.03), (1, 0.05), (2, 0.08), (3, 0.0)])
def test_astar_finds_the_exhaustive_optimum(seed, eps):
    metric, cost = _synthetic(seed=seed)
    res = astar_prune(metric, 7, eps, cheap_scores=cost)
    assert res.optimal
    assert len(res.best) == _exhaustive(metric, 7, eps)
    assert res.value >= res.base - eps  # the bound holds
    assert res.evaluations < 2 ** 7  # fewer evaluations than exhaustive search


def test_astar_respects_budget_and_bound():
    metric, cost = _synthetic(n=12, seed=4)
    res = astar_prune(metric, 12, 0.05, cheap_scores=cost, branching=3, max_evals=20)
    assert res.evaluations <= 20
    assert metric(res.best) >= metric(frozenset()) - 0.05
    assert not res.optimal
    with pytest.raises(ValueError, match="epsilon=-1"):
        astar_prune(metric, 12, -1)


def test_astar_on_a_tiny_model_satisfies_the_bound_on_validation():
    from hpbench.evaluation import evaluate
    from hpbench.tasks import get_task

    task = get_task("sst2")
    m = tiny_model("bert")
    b = tiny_batch(n=8, T=9, seed=2)
    enc = [{"input_ids": b["input_ids"][i, : int(b["attention_mask"][i].sum())].tolist(),
            "attention_mask": [1] * int(b["attention_mask"][i].sum()), "labels": i % 2} for i in range(8)]
    crit, params = parse_spec("astar:epsilon=0.13,branching=0,max_evals=400")
    ctx = ScoringContext(m, task, enc, seed=0, validation=enc)
    res = crit.mask_fn(ctx, 3, **params)
    mask = res.keep
    assert int((~mask).sum()) == 3
    base = evaluate(m, task, enc)["accuracy"]
    if res.within_bound:
        assert evaluate(m, task, enc, gates=mask.float())["accuracy"] >= base - 0.13
    best = crit.fn(ctx, **params)
    pruned = best < 0.5
    assert evaluate(m, task, enc, gates=(~pruned).float())["accuracy"] >= base - 0.13
    assert res.info["evaluations"] >= 1


@pytest.mark.parametrize("k", [1, 5, 17, 35])
@pytest.mark.parametrize("tau", [10.0, 0.5, 0.01])
def test_gumbel_soft_topk_sums_to_k_and_hard_keeps_exactly_k(k, tau):
    g = torch.Generator().manual_seed(k)
    w = torch.randn(36, generator=g)
    noise = sample_gumbel(w.shape, g)
    soft = gumbel_soft_topk(w, k, tau, noise=noise)
    assert abs(float(soft.sum()) - k) < 1e-3
    assert (soft >= -1e-6).all()  # (entries may exceed 1 at high temperature: sum_j p_j is not a probability)
    hard = gumbel_soft_topk(w.requires_grad_(True), k, tau, noise=noise, hard=True)
    assert torch.equal(hard.detach(), (hard.detach() > 0.5).float()) and int(hard.detach().sum()) == k
    hard.sum().backward()  # straight-through: gradients flow to the logits
    assert w.grad is not None
    assert int(hard_topk_mask(w.detach().view(6, 6), k).sum()) == k


def test_low_temperature_soft_topk_is_the_hard_topk():
    w = torch.tensor([0.1, 2.0, -1.0, 1.5, 0.3])
    soft = gumbel_soft_topk(w, 2, 1e-3)
    assert torch.allclose(soft, torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0]), atol=1e-4)


def test_tau_schedule_log_linear():
    assert tau_at(0, 11, 100.0, 0.01) == pytest.approx(100.0)
    assert tau_at(5, 11, 100.0, 0.01) == pytest.approx(1.0)
    assert tau_at(10, 11, 100.0, 0.01) == pytest.approx(0.01)
    assert tau_at(50, 11, 100.0, 0.01) == pytest.approx(0.01)


def _enc(n=16, seed=0):
    b = tiny_batch(n=n, T=9, seed=seed)
    return [{"input_ids": b["input_ids"][i, : int(b["attention_mask"][i].sum())].tolist(),
             "attention_mask": [1] * int(b["attention_mask"][i].sum()), "labels": i % 2} for i in range(n)]


def test_representation_distance_hand_computed():
    full = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])
    pr = torch.tensor([[[3.0, 0.0], [0.0, 0.0]]])
    # token 1: 16/25, token 2: 1/1 -> mean 0.82; with token 2 masked: 0.64
    assert float(representation_distance(full, pr, torch.tensor([[1, 1]]))) == pytest.approx(0.82)
    assert float(representation_distance(full, pr, torch.tensor([[1, 0]]))) == pytest.approx(0.64)


def _distance_of_mask(m, data, keep):
    from hpbench.tasks.encoding import collate
    from hpbench.models.heads import gated

    b = collate(data)
    inputs = {k: v for k, v in b.items() if k != "labels"}
    with torch.no_grad():
        full = m.bert(**inputs).last_hidden_state
        with gated(m, keep.float()):
            pr = m.bert(**inputs).last_hidden_state
    return float(representation_distance(full, pr, inputs["attention_mask"]))


def test_smp_objective_decreases_and_is_deterministic():
    m = tiny_model("bert")
    data = _enc()
    runs = []
    for _ in range(2):  # constant temperature, so losses are comparable over steps
        w, losses = learn_subset(m, smp_objective(m, data), data, k=6, steps=40, seed=0, tau0=0.5, tauf=0.5,
                                 lr_logits=0.3, batch_size=16)
        runs.append((w, losses))
    w, losses = runs[0]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first, (first, last)
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert all(p.requires_grad for p in m.parameters())  # weights unfrozen again afterwards
    # the learned hard mask preserves representations better than typical random 6-head masks
    learned = _distance_of_mask(m, data, hard_topk_mask(w, 6))
    g = torch.Generator().manual_seed(0)
    rand = sorted(_distance_of_mask(m, data, hard_topk_mask(torch.rand(3, 4, generator=g), 6)) for _ in range(15))
    assert learned <= rand[len(rand) // 2], (learned, rand)


def test_dsp_keeps_exactly_k_and_is_deterministic():
    from hpbench.tasks import get_task

    m = tiny_model("bert")
    task = get_task("sst2")
    crit, params = parse_spec("dsp:steps=8")
    masks = []
    for _ in range(2):
        ctx = ScoringContext(m, task, _enc(), seed=1)
        masks.append([crit.mask_fn(ctx, n, **params).keep for n in (0, 3, 6, 9)])
    for n, mk in zip((0, 3, 6, 9), masks[0]):
        assert int((~mk).sum()) == n
    assert all(torch.equal(a, b) for a, b in zip(*masks))
    joint, jp = parse_spec("dsp:mode=joint,steps=4")
    ctx = ScoringContext(m, task, _enc(), seed=1)
    before = [p.clone() for p in m.parameters()]
    res = joint.mask_fn(ctx, 6, **jp)
    assert int((~res.keep).sum()) == 6
    assert all(torch.equal(a, p) for a, p in zip(before, m.parameters()))  # joint trains a copy
    assert res.model is not None and res.model is not m  # the jointly trained weights travel with the mask
    assert any(not torch.equal(a, p) for a, p in zip(before, res.model.parameters()))


@pytest.mark.parametrize("live_pruned", [0, 1])
def test_astar_on_a_tiny_model_finds_the_known_optimum(live_pruned):
    """A tiny BERT whose output depends on three heads (tests/tiny_models.three_live_heads); the metric is minus the
    distillation loss to its unpruned logits. Pruning the nine dead heads costs nothing, so the largest admissible set
    is 9 plus the largest set of live heads within epsilon: found by brute force over the 2^3 live subsets (after
    checking that dead heads change nothing). epsilon just above the cheapest live head's loss admits one live head."""
    from tiny_models import three_live_heads

    model, _, _, hard_loss, _, live = three_live_heads()
    L, H = live.shape
    live_ids = live.flatten().nonzero().flatten().tolist()

    def value(S) -> float:
        keep = torch.ones(L * H, dtype=torch.bool)
        keep[list(S)] = False
        return -hard_loss(keep.view(L, H))

    dead = [i for i in range(L * H) if i not in live_ids]
    assert value(frozenset(dead)) == value(frozenset()) == pytest.approx(0.0, abs=1e-10)
    live_values = {frozenset(s): value(frozenset(s)) for k in range(4) for s in itertools.combinations(live_ids, k)}
    eps = 1e-9 if live_pruned == 0 else -max(v for s, v in live_values.items() if len(s) == 1) * 1.01
    brute = 9 + max(len(s) for s, v in live_values.items() if v >= -eps)
    assert brute == 9 + live_pruned
    res = astar_prune(value, L * H, eps, cheap_scores=[0.0] * (L * H))
    assert res.optimal and len(res.best) == brute
    assert set(dead) <= set(res.best) and value(res.best) >= -eps
    assert res.evaluations < 2 ** (L * H) // 20  # far fewer than exhaustive search
