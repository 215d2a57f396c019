"""Voita et al.'s Hard Concrete L0 gates (hpbench.criteria.l0): the expected-L0 formula against a Monte Carlo
estimate, with a large lambda on a tiny model the gates close, and the weights trained with the gates are
compared by value (one training for every level, the fine-tuned model untouched, lr_model=0 keeps its weights)."""
import math

import pytest
import torch

from hpbench.criteria.l0 import expected_l0, hard_concrete_sample, test_gate, train_gates
from conftest import tiny_model


@pytest.mark.parametrize("log_alpha", [-4.0, -1.0, 0.0, 0.7, 3.0])
def test_expected_l0_matches_a_monte_carlo_estimate(log_alpha):
    n = 400_000
    u = torch.rand(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
    z = hard_concrete_sample(torch.full((n,), log_alpha, dtype=torch.float64), u)
    mc = (z > 0).double().mean().item()
    want = expected_l0(torch.tensor(log_alpha, dtype=torch.float64)).item()
    assert abs(mc - want) < 4 * math.sqrt(want * (1 - want) / n) + 1e-4
    assert ((z >= 0) & (z <= 1)).all()


def _data(n=16, T=8):
    g = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(5, 200, (T,), generator=g).tolist(), "attention_mask": [1] * T,
             "token_type_ids": [0] * T, "labels": i % 2} for i in range(n)]


def test_with_a_large_lambda_the_gates_close_and_with_none_they_stay_open():
    from hpbench.tasks import get_task

    task = get_task("sst2")
    closed, _ = train_gates(tiny_model("bert"), task, _data(), lam=5.0, steps=80, seed=0, lr_model=0.0, batch_size=8,
                            lr_gates=0.3)
    assert (test_gate(closed) == 0).all()
    open_, _ = train_gates(tiny_model("bert"), task, _data(), lam=0.0, steps=30, seed=0, lr_model=0.0, batch_size=8,
                           lr_gates=0.3)
    assert (test_gate(open_) > 0).all()


def test_l0_levels_rank_by_log_alpha_and_keep_their_trained_weights():
    from hpbench.criteria import ScoringContext, masks_for_sparsities, parse_spec
    from hpbench.tasks import get_task

    crit, params = parse_spec("l0:steps=5,lam=0.05")
    ctx = ScoringContext(tiny_model("bert"), get_task("sst2"), _data(), batch_size=8)
    cm = masks_for_sparsities(crit, params, ctx, [0.0, 0.5])
    la = cm.scores
    keep = cm.levels[0.5].keep
    assert int((~keep).sum()) == 6 and la[keep].min() >= la[~keep].max()
    # the weights trained with the gates, compared by value: one training serves every level; it moved the weights
    # (lr_model > 0) and left the fine-tuned model as it was; with lr_model=0 the weights are the fine-tuned ones
    before = {k: v.clone() for k, v in tiny_model("bert").state_dict().items()}
    own = [cm.levels[s].model.state_dict() for s in (0.0, 0.5)]
    assert all(torch.equal(own[0][k], own[1][k]) for k in before)
    assert all(torch.equal(v, before[k]) for k, v in ctx.model.state_dict().items())
    moved = max((own[1][k].float() - before[k].float()).abs().max().item() for k in before if "encoder" in k)
    assert moved > 1e-7
    frozen = masks_for_sparsities(*parse_spec("l0:steps=5,lam=0.05,lr_model=0"),
                                  ScoringContext(tiny_model("bert"), get_task("sst2"), _data(), batch_size=8), [0.0, 0.5])
    assert all(torch.equal(v, before[k]) for k, v in frozen.levels[0.5].model.state_dict().items())
    with pytest.raises(ValueError, match="lam=-1.0"):
        parse_spec("l0:lam=-1")
