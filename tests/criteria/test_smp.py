"""SMP as the authors built it: objective, sampling, per-layer selection, and a learned mask that works."""
import math

import numpy as np
import pytest
import torch

from hpbench.criteria.smp import (MapScorer, attention_maps, per_layer_keep, sample_layer_masks, similarity_kl,
                                  train_pruner)
from conftest import tiny_batch, tiny_model


def _hand_kl(full: np.ndarray, pruned: np.ndarray) -> float:
    """The release's objective written out: centre, normalise, 10 x cosine, pairs of entries, softmax, KL."""
    def logits(r):
        n = len(r) - len(r) % 2
        x = r[:n] - r.mean(0)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        s = 10 * x @ x.T
        return [s.flat[i:i + 2] for i in range(0, s.size, 2)]

    total, count = 0.0, 0
    for a, b in zip(logits(full), logits(pruned)):
        p = np.exp(a) / np.exp(a).sum()
        logq = b - math.log(np.exp(b).sum())
        for k in range(2):
            total += p[k] * (math.log(p[k]) - logq[k])
            count += 1
    return total / count


def test_similarity_objective_equals_a_hand_computation():
    rng = np.random.default_rng(0)
    full, pruned = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))  # odd batch: the last row is dropped
    got = float(similarity_kl(torch.tensor(full), torch.tensor(pruned)))
    assert got == pytest.approx(_hand_kl(full, pruned), rel=1e-9)
    assert float(similarity_kl(torch.tensor(full), torch.tensor(full))) == pytest.approx(0.0, abs=1e-12)


def test_sampled_masks_keep_half_the_heads_of_sampled_layers_and_pass_gradients():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(4, 6, requires_grad=True)
    m = sample_layer_masks(scores, keep=3, pruned_layers=[1, 3], generator=g)
    assert torch.equal(m[0].detach(), torch.ones(6)) and torch.equal(m[2].detach(), torch.ones(6))
    assert [int(m[i].detach().sum()) for i in (1, 3)] == [3, 3]
    assert set(m.detach().unique().tolist()) <= {0.0, 1.0}
    (m * torch.arange(6.0)).sum().backward()
    assert scores.grad[1].abs().sum() > 0 and scores.grad[0].abs().sum() == 0


def test_per_layer_selection_against_brute_force():
    """With n_prune = k x layers every layer loses exactly its k lowest heads; counts always exact."""
    g = torch.Generator().manual_seed(1)
    s = torch.rand(3, 5, generator=g)
    for k in range(6):
        keep = per_layer_keep(s, 3 * k)
        for layer in range(3):
            lowest = set(torch.argsort(s[layer])[:k].tolist())
            assert set(torch.nonzero(~keep[layer]).flatten().tolist()) == lowest
    for n in range(16):
        keep = per_layer_keep(s, n)
        per = (~keep).sum(1)
        assert int(per.sum()) == n and int(per.max() - per.min()) <= 1


def test_attention_maps_are_masked_and_padded_and_the_cnn_scores_in_0_2():
    probs = torch.rand(2, 3, 5, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    maps = attention_maps(probs, mask, 8)
    assert maps.shape == (6, 1, 8, 8)
    assert torch.equal(maps[0, 0, :3, :5], probs[0, 0, :3]) and maps[0, 0, 3:].abs().sum() == 0
    assert maps[:, :, :, 5:].abs().sum() == 0
    out = MapScorer(8, 4)(maps)
    assert out.shape == (6, 2) and bool(((out > 0) & (out < 2)).all())
    with pytest.raises(ValueError, match="size=12"):
        MapScorer(12)


def _distinct_heads_model():
    """Tiny BERT whose heads 0-1 of every layer are focused and carry the output, heads 2-3 attend uniformly
    and barely contribute: a mask keeping 0-1 preserves the representations, and the maps tell them apart."""
    m = tiny_model("bert", num_hidden_layers=2)
    d = m.config.hidden_size // m.config.num_attention_heads
    with torch.no_grad():
        for layer in m.bert.encoder.layer:
            q, o = layer.attention.self.query, layer.attention.output.dense
            q.weight[: 2 * d] *= 4.0
            q.weight[2 * d:] = 0.0
            q.bias[2 * d:] = 0.0
            o.weight[:, 2 * d:] *= 0.05
    return m


def _objective(m, data, keep):
    from hpbench.criteria.smp import sentence_rep
    from hpbench.models.heads import gated

    with torch.no_grad():
        full = m.bert(**data)
        with gated(m, keep.float()):
            out = m.bert(**data)
    return float(similarity_kl(sentence_rep(full, data["attention_mask"], "cls"), sentence_rep(out, data["attention_mask"], "cls")))


def test_learned_smp_mask_beats_the_median_random_mask():
    from hpbench.criteria import ScoringContext
    from hpbench.tasks import get_task

    m = _distinct_heads_model()
    b = tiny_batch(n=32, T=12, seed=3)
    enc = [{"input_ids": b["input_ids"][i, : int(b["attention_mask"][i].sum())].tolist(),
            "attention_mask": [1] * int(b["attention_mask"][i].sum()), "labels": i % 2} for i in range(32)]
    ctx = ScoringContext(m, get_task("sst2"), enc, seed=0, batch_size=16)
    scores, info = train_pruner(ctx, steps=60, lr=0.5, size=16, width=4, pooling="cls")
    assert info["training_steps"] == 60
    keep = per_layer_keep(scores, 4)  # 2 of 4 heads per layer
    held = tiny_batch(n=32, T=12, seed=9)
    learned = _objective(m, held, keep)
    g = torch.Generator().manual_seed(0)
    rand = sorted(_objective(m, held, per_layer_keep(torch.rand(2, 4, generator=g), 4)) for _ in range(15))
    assert learned <= rand[len(rand) // 2], (learned, rand, scores)
    assert all(p.requires_grad for p in m.parameters())  # the model's weights unfrozen again


def test_the_pruner_update_is_clipped_to_gradient_norm_one_as_released(monkeypatch):
    """The release clips the pruner's gradient norm at ``max_grad_norm`` 1.0 before each SGD step: with the objective
    scaled by 1e6 (raw gradient norms far above 1), every step's gradient has norm 1 (it fails without the clip)."""
    import hpbench.criteria.smp as smp_mod
    from hpbench.criteria import ScoringContext
    from hpbench.tasks import get_task

    norms: list[float] = []

    class RecordingSGD(torch.optim.SGD):
        def step(self, closure=None):
            g = [p.grad.flatten() for grp in self.param_groups for p in grp["params"] if p.grad is not None]
            norms.append(float(torch.cat(g).norm()))
            return super().step(closure)

    step = smp_mod.smp_step
    monkeypatch.setattr(smp_mod, "smp_step", lambda *a, **k: step(*a, **k) * 1e6)
    monkeypatch.setattr(smp_mod.torch.optim, "SGD", RecordingSGD)
    m = _distinct_heads_model()
    b = tiny_batch(n=16, T=12, seed=3)
    enc = [{"input_ids": b["input_ids"][i, : int(b["attention_mask"][i].sum())].tolist(),
            "attention_mask": [1] * int(b["attention_mask"][i].sum()), "labels": i % 2} for i in range(16)]
    ctx = ScoringContext(m, get_task("sst2"), enc, seed=0, batch_size=8)
    train_pruner(ctx, steps=4, lr=0.01, size=16, width=4, pooling="cls")
    assert len(norms) == 4 and all(n == pytest.approx(1.0, rel=1e-4) for n in norms), norms
