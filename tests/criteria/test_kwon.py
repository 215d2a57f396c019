"""Kwon et al. 2022 (hpbench.criteria.kwon, hpbench.recovery.mask_tuning) against independent computations: the
mask search equals a brute-force optimum over every mask of 2 x 3 heads, rearrangement equals brute force within
a layer and never worsens the block objective, mask tuning equals numpy.linalg.lstsq on the same activations."""
import itertools

import numpy as np
import pytest
import torch

from hpbench.criteria.kwon import pruned_cost, rearrange, rearrange_layer, search_topk
from hpbench.recovery.mask_tuning import head_gram, tune_mask, tuned_scales
from conftest import tiny_model


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_prune", range(7))
def test_the_mask_search_equals_the_brute_force_optimum_on_2x3_heads(seed, n_prune):
    fisher = torch.rand(2, 3, generator=torch.Generator().manual_seed(seed))
    got = search_topk(fisher, n_prune)
    assert int((~got).sum()) == n_prune
    best = max((m for m in itertools.product([0, 1], repeat=6) if 6 - sum(m) == n_prune),
               key=lambda m: sum(f * k for f, k in zip(fisher.flatten().tolist(), m)))
    assert float((fisher * got).sum()) == pytest.approx(sum(f * k for f, k in zip(fisher.flatten().tolist(), best)))


def _psd(H, seed):
    g = torch.randn(50, H, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    g[:, 0] *= 3  # correlated, unequal heads
    g[:, 1] += g[:, 0]
    return g.T @ g / 50


@pytest.mark.parametrize("seed", range(6))
def test_rearrangement_equals_brute_force_within_a_layer_and_never_worsens(seed):
    H = 6
    F = _psd(H, seed)
    for k in range(H + 1):
        start = torch.ones(H, dtype=torch.bool)
        start[torch.randperm(H, generator=torch.Generator().manual_seed(seed + k))[:k]] = False
        got = rearrange_layer(F, start)
        assert int((~got).sum()) == k
        brute = min(pruned_cost(F, list(p)) for p in itertools.combinations(range(H), k))
        cost = pruned_cost(F, (~got).nonzero().flatten().tolist())
        assert cost == pytest.approx(brute, abs=1e-12)
        assert cost <= pruned_cost(F, (~start).nonzero().flatten().tolist()) + 1e-12


def test_greedy_rearrangement_never_worsens_the_objective(monkeypatch):
    import hpbench.criteria.kwon as kw

    monkeypatch.setattr(kw, "EXHAUSTIVE_LIMIT", 0)  # force the greedy pass used for large layers
    blocks = torch.stack([_psd(8, s) for s in range(3)])
    keep = torch.rand(3, 8, generator=torch.Generator().manual_seed(9)) > 0.5
    got = rearrange(blocks, keep)
    for l in range(3):
        assert int(got[l].sum()) == int(keep[l].sum())
        before = pruned_cost(blocks[l], (~keep[l]).nonzero().flatten().tolist())
        assert pruned_cost(blocks[l], (~got[l]).nonzero().flatten().tolist()) <= before + 1e-12


def _encoded(n=5, T=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        L = T - i % 3
        out.append({"input_ids": torch.randint(5, 200, (L,), generator=g).tolist(), "attention_mask": [1] * L,
                    "token_type_ids": [0] * L, "labels": i % 2})
    return out


def inputs_one_by_one(model, modules, enc) -> list[torch.Tensor]:
    """Each module's input over every token of ``enc``, the model run one unpadded example at a time ([tokens, width])."""
    xs = [[] for _ in modules]
    hs = [m.register_forward_pre_hook(lambda _m, a, l=l: xs[l].append(a[0][0].detach())) for l, m in enumerate(modules)]
    with torch.no_grad():
        for e in enc:
            model(**{k: torch.tensor([v]) for k, v in e.items() if k != "labels"})
    for h in hs:
        h.remove()
    return [torch.cat(x) for x in xs]


def test_mask_tuning_equals_numpy_lstsq_on_the_same_activations():
    model = tiny_model("bert").double()
    enc = _encoded()
    # the activations, independently: every token's output-projection input, one example at a time
    outs = [model.bert.encoder.layer[l].attention.output.dense for l in range(3)]
    xs = inputs_one_by_one(model, outs, enc)
    keep = torch.tensor([[1, 0, 1, 1], [0, 1, 0, 1], [1, 1, 1, 1]], dtype=torch.bool)
    got = tuned_scales(head_gram(model, enc, batch_size=2), keep)
    for l, o in enumerate(outs):
        x = xs[l].numpy()  # [tokens, 32]
        W = o.weight.detach().numpy()  # [32 out, 32 in]
        cols = [x[:, h * 8:(h + 1) * 8] @ W[:, h * 8:(h + 1) * 8].T for h in range(4)]  # c_h: [tokens, out]
        A = np.stack([cols[h].ravel() for h in range(4) if keep[l, h]], 1)
        y = sum(cols).ravel()
        want = np.linalg.lstsq(A, y, rcond=None)[0]
        np.testing.assert_allclose(got[l][keep[l]].numpy(), want, rtol=1e-6, atol=1e-8)
        assert (got[l][~keep[l]] == 0).all()
    # the tuned model's layer output matches the dense one at least as well as the untuned pruned one
    tuned, _ = tune_mask(model, keep, head_gram(model, enc, batch_size=2))
    assert torch.allclose(tuned.bert.encoder.layer[2].attention.output.dense.weight,
                          model.bert.encoder.layer[2].attention.output.dense.weight, atol=1e-8)  # nothing pruned: m = 1


def test_kwon_end_to_end_on_a_tiny_model_prunes_the_requested_heads_and_records_its_time():
    from hpbench.criteria import ScoringContext, masks_for_sparsities, parse_spec
    from hpbench.tasks import get_task

    model = tiny_model("bert").double()
    crit, params = parse_spec("kwon:n=5")
    ctx = ScoringContext(model, get_task("sst2"), _encoded(), batch_size=2)
    cm = masks_for_sparsities(crit, params, ctx, [0.0, 0.25, 0.5])
    for s, n in ((0.0, 0), (0.25, 3), (0.5, 6)):
        assert int((~cm.levels[s].keep).sum()) == n
    assert cm.levels[0.5].model is not None and cm.levels[0.0].model is None
    assert cm.info["score_seconds"] > 0 and "kwon_mask_seconds" in cm.info
