"""``his_mean`` (HIS ranking, pruned heads mean-ablated into the output bias): a criterion whose every level carries
its own weights, added as one file. Its compensation against a hand computation, and through a whole run: its
levels are evaluated with their own weights and never lend their evaluations to HIS (same masks, other numbers)."""
import json

import pytest
import torch

from conftest import needs_shared
from hpbench.criteria.base import ScoringContext, parse_spec
from hpbench.criteria.masks import masks_for_sparsities
from hpbench.criteria.plan import PruningPlan
from hpbench.models.adapters import adapter_for
from tiny_models import tiny


class _Task:
    """Classification loss for the scoring pass (HIS needs a loss)."""

    def loss_per_example(self, logits, labels):
        return torch.nn.functional.cross_entropy(logits, labels, reduction="none")


def _ctx(model):
    g = torch.Generator().manual_seed(3)
    enc = [{"input_ids": torch.randint(1, 100, (9 - i % 3,), generator=g).tolist(), "attention_mask": [1] * (9 - i % 3),
            "labels": i % 3} for i in range(8)]
    return ScoringContext(model, _Task(), enc, batch_size=4)


def test_each_level_carries_the_output_bias_of_mean_ablation_computed_by_hand():
    model, _ = tiny("bert")
    ctx = _ctx(model)
    crit, params = parse_spec("his_mean")
    cm = masks_for_sparsities(crit, params, ctx, [0.0, 0.5])
    assert cm.levels[0.0].weights is None and isinstance(cm.levels[0.5], PruningPlan)
    plan = cm.levels[0.5]
    # the ranking is HIS's
    his_masks = masks_for_sparsities(*parse_spec("his"), ctx, [0.5]).levels[0.5].keep
    assert torch.equal(plan.keep, his_masks) and plan.costs["compensation_seconds"] >= 0
    # hand: the mean output-projection input over every (non-padding) token, one example at a time
    ad = adapter_for(model)
    outs = [ad.out_proj(ad.module(o, a)) for o, a in ad.sites(model)]
    xs = [[] for _ in outs]
    hooks = [o.register_forward_pre_hook(lambda m, a, i=i: xs[i].append(a[0][0].double())) for i, o in enumerate(outs)]
    with torch.no_grad():
        for ex in ctx.encoded:
            model(input_ids=torch.tensor([ex["input_ids"]]))
    for h in hooks:
        h.remove()
    d = 8  # head size of the tiny BERT (32 / 4)
    new = [ad.out_proj(ad.module(o, a)) for o, a in ad.sites(plan.weights)]
    for l, (o, n) in enumerate(zip(outs, new)):
        mean = torch.cat(xs[l]).mean(0)
        want = o.bias.double().clone()
        for h in range(4):
            if not plan.keep[l, h]:
                want += o.weight.double()[:, h * d:(h + 1) * d] @ mean[h * d:(h + 1) * d]
        torch.testing.assert_close(n.bias.double(), want, rtol=1e-5, atol=1e-6)
    assert not torch.equal(outs[0].bias, new[0].bias) or plan.keep[0].all()  # the fine-tuned model is untouched
    assert model is not plan.weights


@needs_shared
def test_a_run_evaluates_its_own_weights_and_never_lends_them(tiny_model_dir, tmp_path, monkeypatch):
    from hpbench.run import run_benchmark

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    t = run_benchmark(model=tiny_model_dir, task="stsb", criteria=["his", "his_mean"], sparsities=[0.0, 0.5], seeds=[0],
                      n_train=32, epochs=1.0, max_len=24, n_dev=24, n_score=8, precision="fp32",
                      results_dir=str(tmp_path / "res"))
    m = t["masks"].set_index(["criterion", "sparsity"])["mask"]
    assert m[("his", 0.5)] == m[("his_mean", 0.5)]  # the same heads go
    p = t["predictions"].set_index(["criterion", "sparsity"])["y_pred"].map(json.loads)
    assert p[("his", 0.0)] == p[("his_mean", 0.0)]  # the unpruned model is shared
    assert p[("his", 0.5)] != pytest.approx(p[("his_mean", 0.5)], abs=1e-6)  # other weights, other predictions
    r = t["results"]
    assert r.loc[r["criterion"] == "his_mean", "compensation_seconds"].notna().all()
