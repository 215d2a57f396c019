"""A pruning plan (heads, FFN neurons, own weights) is applied the same way gated and physically pruned, on every
architecture's tiny model; its record round-trips; costs add up over levels and info is shared."""
import copy

import pytest
import torch

from hpbench.criteria.plan import PruningPlan, StoredPlan, gated_by, merge_costs, pruned_by
from hpbench.models.ffn import ffn_shape
from tiny_models import KEEP, KINDS, tiny


@pytest.mark.parametrize("kind", KINDS)
def test_gated_and_pruned_plans_compute_the_same(kind):
    model, batch = tiny(kind)
    L, N = ffn_shape(model)
    ffn = torch.rand(L, N, generator=torch.Generator().manual_seed(1)) > 0.4
    own = copy.deepcopy(model)
    with torch.no_grad():
        for p in own.parameters():
            p.add_(0.01 * torch.randn_like(p))  # the plan's own weights differ from the model's
    plan = StoredPlan.of(PruningPlan(KEEP, weights=own, ffn_keep=ffn))
    with torch.no_grad(), gated_by(model, plan, tuple(KEEP.shape)) as g:
        want = g(**batch).logits.clone()
    dense = copy.deepcopy(model)
    with torch.no_grad(), pruned_by(model, plan, tuple(KEEP.shape)) as p:
        got = p(**batch).logits
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    for a, b in zip(model.parameters(), dense.parameters()):  # the fine-tuned model is untouched by either
        assert torch.equal(a, b)
    # without own weights: the plan applies to the model itself (neurons pruned on a copy), restored after
    plain = StoredPlan.of(PruningPlan(KEEP, ffn_keep=ffn))
    with torch.no_grad(), gated_by(model, plain, tuple(KEEP.shape)) as g:
        want = g(**batch).logits.clone()
    with torch.no_grad(), pruned_by(model, plain, tuple(KEEP.shape)) as p:
        got = p(**batch).logits
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, dense(**batch).logits)


def test_record_round_trip_budget_and_costs():
    keep = torch.tensor([[1, 0], [1, 1]], dtype=torch.bool)
    p = PruningPlan(keep, ffn_keep=torch.tensor([[1, 0, 0], [1, 1, 1]], dtype=torch.bool), within_bound=True,
                    costs={"training_steps": 10})
    r = p.record()
    assert r == {"mask": "1011", "ffn_mask": "100111", "own_weights": False, "within_bound": True, "budget": "flops"}
    assert StoredPlan(r["mask"], r["ffn_mask"], r["own_weights"], r["within_bound"]).budget == "flops"
    assert PruningPlan(keep).budget == "heads" and PruningPlan(keep, model="w").weights == "w"
    levels = [PruningPlan(keep, info={"alpha": 0.3}, costs={"training_steps": 10, "train_seconds": 1.5}),
              PruningPlan(keep, info={"alpha": 0.3}, costs={"training_steps": 20, "train_seconds": 2.0})]
    assert merge_costs(levels) == {"alpha": 0.3, "training_steps": 30, "train_seconds": 3.5}
