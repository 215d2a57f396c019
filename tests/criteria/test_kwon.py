"""Kwon et al. 2022 as released (hpbench.criteria.kwon, kwon_search, hpbench.recovery.rescale) against independent
re-computations of the released formulas (WoosukKwon/retraining-free-pruning @ 806ac5a) on tiny models:

* the mini-batch Fisher: each mini-batch's gradient equals central finite differences of that batch's mean loss;
* ``search_mac``: the brute-force optimum over every mask of 2 x 3 heads and 2 x 4 neurons under the released MACs;
* the greedy rearrangement: a literal numpy transcription of ``prune/rearrange.py`` on the same gradients;
* mask tuning: the released sequential least-squares problem rebuilt from activations collected by whole-model
  forwards one unpadded example at a time (not hpbench's layer replay) and solved in closed form (the damped
  normal equations LSMR solves), layer by layer with the student's inputs from the layers already tuned;
* the safeguard: a failed solve stops tuning in that layer and every later one, earlier layers keep their values;
* the sample: ``np.random.choice`` after ``np.random.seed`` (with replacement).
"""
import itertools

import numpy as np
import pytest
import torch

from hpbench.criteria.kwon import released_draw, teacher_constraint
from hpbench.criteria.kwon_search import greedy_rearrange, mac_per_head, mac_per_neuron, minibatch_grads, search_mac
from hpbench.models.ffn import NeuronGates
from hpbench.models.heads import HeadGates
from hpbench.tasks import get_task
from conftest import tiny_model


def _encoded(n=5, T=9, seed=0, vocab=200):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        L = T - i % 3
        out.append({"input_ids": torch.randint(5, vocab, (L,), generator=g).tolist(), "attention_mask": [1] * L,
                    "token_type_ids": [0] * L, "labels": i % 2})
    return out


def _batch_loss(model, task, items, hg, ng):
    from hpbench.tasks.encoding import collate

    b = collate(items)
    with torch.no_grad(), HeadGates(model, hg), NeuronGates(model, ng):
        logits = model(**{k: v for k, v in b.items() if k != "labels"}).logits
    return float(task.loss_per_example(logits, b["labels"]).mean())


def test_each_mini_batch_gradient_equals_finite_differences_of_that_batch_mean_loss():
    model, task, enc = tiny_model("bert").double(), get_task("sst2"), _encoded(n=10)
    got = minibatch_grads(model, task, enc, batch_size=4)
    assert got.head.shape == (3, 3, 4) and got.neuron.shape == (3, 3, 64) and got.n_examples == 10
    eps = 1e-5
    for b, items in enumerate([enc[0:4], enc[4:8], enc[8:10]]):  # the sample's order, no length bucketing
        for which, (l, j) in (("head", (0, 1)), ("head", (2, 3)), ("neuron", (1, 7))):
            hg, ng = torch.ones(3, 4, dtype=torch.float64), torch.ones(3, 64, dtype=torch.float64)
            g = hg if which == "head" else ng
            g[l, j] = 1 + eps
            up = _batch_loss(model, task, items, hg, ng)
            g[l, j] = 1 - eps
            fd = (up - _batch_loss(model, task, items, hg, ng)) / (2 * eps)
            assert float(getattr(got, which)[b, l, j]) == pytest.approx(fd, rel=1e-5, abs=1e-10)
    # the Fisher sums the squared mini-batch gradients (about mu^2 + sigma^2/32), not per-example squares
    assert torch.allclose(got.head_fisher, (got.head ** 2).sum(0))


@pytest.mark.parametrize("seed", range(4))
def test_the_mac_search_equals_the_brute_force_optimum_on_2x3_heads_and_2x4_neurons(seed):
    g = torch.Generator().manual_seed(seed)
    head, neuron = torch.rand(2, 3, generator=g, dtype=torch.float64), torch.rand(2, 4, generator=g, dtype=torch.float64)
    seq, d, dh = 7.5, 12, 4
    mh, mn = 3 * seq * d * dh + 2 * seq * seq * dh + seq * dh * d, 2 * seq * d  # efficiency/mac.py, by hand
    assert (mac_per_head(seq, d, dh), mac_per_neuron(seq, d)) == (mh, mn)
    dense = 2 * (3 * mh + 4 * mn)
    hm = np.array(list(itertools.product([0, 1], repeat=6)))
    nm = np.array(list(itertools.product([0, 1], repeat=8)))
    value = (hm @ head.flatten().numpy())[:, None] + (nm @ neuron.flatten().numpy())[None, :]
    for c in (0.3, 0.5, 0.7, 0.9):
        # the released feasible set: at least one head; neurons up to int((c * dense - heads MACs) / neuron MACs) >= 0
        cap = np.trunc((c * dense - hm.sum(1) * mh) / mn)
        ok = (hm.sum(1)[:, None] >= 1) & (cap[:, None] >= 0) & (nm.sum(1)[None, :] <= cap[:, None])
        kh, kn = search_mac(head, neuron, seq, d, dh, c)
        assert float((head * kh).sum() + (neuron * kn).sum()) == pytest.approx(value[ok].max(), rel=1e-12)
        assert int(kh.sum()) * mh + int(kn.sum()) * mn <= c * dense + mn
    with pytest.raises(ValueError, match="MAC constraint 1.0 must lie in"):
        search_mac(head, neuron, seq, d, dh, 1.0)
    assert teacher_constraint(0.5) == pytest.approx(0.7071067811865476)


def _released_greedy(keep, grads):
    """``prune/rearrange.py: greedy_rearrange``, transcribed to numpy (grads: [mini-batches, units])."""
    num_unpruned = int(keep.sum())
    num_pruned = keep.shape[0] - num_unpruned
    if num_unpruned == 0 or num_pruned == 0:
        return keep.copy()
    g = grads.T  # [units, mini-batches]
    order = list(np.argsort((g ** 2).sum(1), kind="stable"))
    masked = order[:num_pruned]
    for index in order[num_pruned:]:
        masked.append(index)
        vec = g[masked]
        complement = vec.sum(0) - vec
        removed = int(np.argmin((complement ** 2).sum(1)))
        del masked[removed]
    out = np.ones_like(keep)
    out[masked] = 0
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_pruned", [1, 4, 7, 11])
def test_greedy_rearrangement_equals_the_released_loop_on_the_same_gradients(seed, n_pruned):
    G = torch.randn(64, 12, generator=torch.Generator().manual_seed(seed), dtype=torch.double)
    G[:, seed % 12] *= 3.0  # one dominant unit, and correlated pairs, so the greedy pass has work to do
    G[:, (seed + 5) % 12] = G[:, (seed + 2) % 12] * 0.9 + 0.1 * G[:, (seed + 5) % 12]
    keep = torch.ones(12, dtype=torch.bool)
    keep[torch.randperm(12, generator=torch.Generator().manual_seed(seed))[:n_pruned]] = False  # only the count matters
    want = _released_greedy(keep.numpy().astype(np.int64), G.numpy())
    got = greedy_rearrange(keep, G)
    assert got.numpy().astype(np.int64).tolist() == want.tolist()


def test_the_sample_is_drawn_with_replacement_as_np_random_choice_after_set_seed():
    np.random.seed(3)
    want = np.random.choice(100, 80).tolist()
    assert released_draw(100, 80, 3) == want
    assert len(set(want)) < 80  # with replacement: repeats


# --- mask tuning -------------------------------------------------------------------------------------------------

def _collect(model, enc, heads, neurons):
    """Per layer, over every token of every example run alone (unpadded): the layer input x, the attention output
    projection's input (after the head gates), the FFN input u and the down projection's input before the neuron
    mask; the model gated by ``heads`` ``[L, H]`` and ``neurons`` ``[L, N]`` in every layer."""
    layers = model.bert.encoder.layer
    spots = {"x": [l for l in layers], "u": [l.intermediate.dense for l in layers], "a": [l.output.dense for l in layers]}
    got = {k: [[] for _ in layers] for k in ("x", "ctx", "u", "a", "cls_u", "cls_a")}
    hooks = []
    for k, mods in spots.items():  # registered before the neuron gates: "a" is the unmasked activation
        for l, m in enumerate(mods):
            hooks.append(m.register_forward_pre_hook(lambda _m, a, l=l, k=k: got[k][l].append(a[0][0].detach().clone())))
    with torch.no_grad(), NeuronGates(model, neurons), HeadGates(model, heads):
        for l, layer in enumerate(layers):  # after the head gates: the gated context
            hooks.append(layer.attention.output.dense.register_forward_pre_hook(
                lambda _m, a, l=l: got["ctx"][l].append(a[0][0].detach().clone())))
        for e in enc:
            model(**{k: torch.tensor([v]) for k, v in e.items() if k != "labels"})
    for h in hooks:
        h.remove()
    return {k: [torch.cat(v) if v else None for v in vals] for k, vals in got.items() if k in ("x", "ctx", "u", "a")}, \
        {k: [torch.stack([t[0] for t in vals[l]]) for l in range(len(layers))] for k, vals in got.items() if k in ("u", "a")}


def _damped_toward_one(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """x = 1 + argmin ||M y - (v - M 1)||^2 + ||y||^2, in closed form: (M^T M + I) y = M^T (v - M 1)."""
    b = v - M.sum(1)
    return 1 + np.linalg.solve(M.T @ M + np.eye(len(b)), M.T @ b)


def _reference_rescale(model, enc, tk, tn, sk, sn):
    """The released ``rescale_mask`` with whole-model forwards (module docstring)."""
    L, H = sk.shape
    heads, neurons = sk.double().clone(), sn.double().clone()
    teacher = _collect(model, enc, tk.double(), tn.double())
    lengths = [len(e["input_ids"]) for e in enc]
    cls_rows = np.cumsum([0] + lengths[:-1])  # each example's first token in the concatenation
    for l in range(L):
        layer = model.bert.encoder.layer[l]
        wo, w2 = layer.attention.output.dense.weight.detach().numpy(), layer.output.dense.weight.detach().numpy()
        (t, _), ((s, _)) = teacher, _collect(model, enc, heads, neurons)
        kept = heads[l].nonzero().flatten().tolist()
        if kept and l != 0:
            ctx = s["ctx"][l].numpy()
            cols = [ctx[:, h * 8:(h + 1) * 8] @ wo[:, h * 8:(h + 1) * 8].T for h in kept]
            A = np.stack([c.ravel() for c in cols] + [np.ones(cols[0].size)], 1)
            B = (t["ctx"][l].numpy() @ wo.T + t["x"][l].numpy() - s["x"][l].numpy()).ravel()
            x = _damped_toward_one(A.T @ A, A.T @ B)[:-1]
            heads[l, kept] *= torch.from_numpy(x)
        s = _collect(model, enc, heads, neurons)[0]
        kept = neurons[l].nonzero().flatten().tolist()
        rows = cls_rows if l == L - 1 else np.arange(s["u"][l].shape[0])  # last layer: [CLS] rows
        a, W = s["a"][l].numpy()[rows][:, kept], w2[:, kept]
        B = t["a"][l].numpy()[rows] @ w2.T + t["u"][l].numpy()[rows] - s["u"][l].numpy()[rows]
        M = (a.T @ a) * (W.T @ W)
        v = (a * (B @ W)).sum(0)
        neurons[l, kept] *= torch.from_numpy(_damped_toward_one(M, v))
    return heads, neurons


MASKS = dict(tk=torch.tensor([[1, 1, 1, 1], [1, 1, 0, 1], [1, 0, 1, 1]], dtype=torch.bool),
             sk=torch.tensor([[1, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 0]], dtype=torch.bool))


def _neuron_masks():
    g = torch.Generator().manual_seed(5)
    sn = torch.rand(3, 64, generator=g) > 0.5
    return sn | (torch.rand(3, 64, generator=g) > 0.5), sn


def test_mask_tuning_equals_the_released_sequential_least_squares_solved_by_hand(monkeypatch):
    """The problem each layer solves, exactly: hpbench's solver swapped for the closed form (the damped normal
    equations LSMR iterates toward), both sides solve the same systems only if they build the same ones."""
    import hpbench.recovery.rescale as rs

    model, enc = tiny_model("bert", seed=2).double(), _encoded(n=48, seed=1)
    tn, sn = _neuron_masks()
    lsmr = rs.rescale_mask(model, MASKS["tk"], tn, MASKS["sk"], sn, enc, sequence_level=True, batch_size=5)
    assert lsmr.stopped is None and set(lsmr.lsmr_stops) <= {1, 2}
    monkeypatch.setattr(rs, "lsmr_toward_one", lambda m, v: (_damped_toward_one(m, v), True, 1))
    got = rs.rescale_mask(model, MASKS["tk"], tn, MASKS["sk"], sn, enc, sequence_level=True, batch_size=5)
    want_h, want_n = _reference_rescale(model, enc, MASKS["tk"], tn, MASKS["sk"], sn)
    np.testing.assert_allclose(got.head.numpy(), want_h.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.neuron.numpy(), want_n.numpy(), rtol=1e-5, atol=1e-6)
    assert (got.head[0] == MASKS["sk"][0].double()).all()  # layer 0's heads are never tuned
    assert (got.neuron[~sn] == 0).all() and (got.head[~MASKS["sk"]] == 0).all()
    # tuning changed the masks (a solver returning ones would fail the comparison above too)
    assert (got.head[1:][MASKS["sk"][1:]] - 1).abs().max() > 0.05 and (got.neuron[sn] - 1).abs().max() > 0.05
    # and LSMR (cupy's defaults) lands near the closed form where the layer is well posed (layers 0 and 1)
    np.testing.assert_allclose(lsmr.head.numpy(), want_h.numpy(), rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(lsmr.neuron[:2].numpy(), want_n[:2].numpy(), rtol=2e-3, atol=2e-3)


def test_the_lsmr_solver_reaches_the_damped_solution_toward_one():
    from hpbench.recovery.rescale import lsmr_toward_one

    g = np.random.default_rng(0)
    A = g.normal(size=(200, 12))
    M, v = A.T @ A, A.T @ g.normal(size=200)
    x, ok, istop = lsmr_toward_one(M, v)
    assert ok and istop in (1, 2)
    np.testing.assert_allclose(x, _damped_toward_one(M, v), rtol=1e-4)
    assert lsmr_toward_one(np.array([[4.0]]), np.array([6.0]))[0] == pytest.approx([1.5])  # one unknown: B' / A + 1


def test_a_failed_solve_stops_tuning_in_that_layer_and_every_later_one(monkeypatch):
    import hpbench.recovery.rescale as rs

    model, enc = tiny_model("bert", seed=2).double(), _encoded(n=48, seed=1)
    tn, sn = _neuron_masks()
    full = rs.rescale_mask(model, MASKS["tk"], tn, MASKS["sk"], sn, enc, sequence_level=True, batch_size=5)
    real, calls = rs.lsmr_toward_one, []

    def third_fails(ata, atb):  # solves: layer 0 neurons, layer 1 heads, layer 1 neurons (fails), ...
        calls.append(len(atb))
        x, ok, istop = real(ata, atb)
        return (x, False, 7) if len(calls) == 3 else (x, ok, istop)

    monkeypatch.setattr(rs, "lsmr_toward_one", third_fails)
    got = rs.rescale_mask(model, MASKS["tk"], tn, MASKS["sk"], sn, enc, sequence_level=True, batch_size=5)
    assert len(calls) == 3 and got.stopped == "layer 1 neurons: LSMR istop 7"
    assert torch.equal(got.neuron[0], full.neuron[0]) and torch.equal(got.head[1], full.head[1])  # before: kept
    assert torch.equal(got.neuron[1:], sn[1:].double()) and torch.equal(got.head[2], MASKS["sk"][2].double())
    monkeypatch.setattr(rs, "lsmr_toward_one", real)
    monkeypatch.setattr(rs, "SCALE_LIMIT", 1.0 + 1e-9)  # every fitted value beyond the limit: stops at the first
    got = rs.rescale_mask(model, MASKS["tk"], tn, MASKS["sk"], sn, enc, sequence_level=True, batch_size=5)
    assert got.stopped.startswith("layer 0 neurons: a value outside")
    assert torch.equal(got.head, MASKS["sk"].double()) and torch.equal(got.neuron, sn.double())


# --- the criterion end to end ------------------------------------------------------------------------------------

def test_kwon_meets_each_mac_budget_tunes_toward_its_teacher_and_kwon_heads_prunes_exact_heads():
    from hpbench.criteria import ScoringContext, masks_for_sparsities, parse_spec
    from hpbench.models.ffn import neurons_per_layer
    from hpbench.models.heads import gated, prune_heads

    model, task = tiny_model("bert", seed=2).double(), get_task("sst2")
    ctx = lambda: ScoringContext(model, task, _encoded(n=48, seed=1), batch_size=5)  # noqa: E731
    cm = masks_for_sparsities(*parse_spec("kwon:n=40"), ctx(), [0.0, 0.3, 0.6])
    seq = ctx().avg_length()
    assert seq == pytest.approx(np.mean([len(e["input_ids"]) for e in _encoded(n=48, seed=1)]))
    mh, mn = mac_per_head(seq, 32, 8), mac_per_neuron(seq, 32)
    assert cm.levels[0.0].model is None and bool(cm.levels[0.0].ffn_keep.all()) and bool(cm.levels[0.0].keep.all())
    for s in (0.3, 0.6):
        r = cm.levels[s]
        assert int(r.keep.sum()) * mh + int(r.ffn_keep.sum()) * mn <= (1 - s) * 3 * (4 * mh + 64 * mn) + mn
        assert neurons_per_layer(r.model) == r.ffn_keep.sum(1).tolist() and neurons_per_layer(model) == [64] * 3
    assert cm.info["kwon_n"] == 40 and cm.info["kwon_seq_len"] == pytest.approx(seq)
    # tune=false: the searched, rearranged masks on the fine-tuned weights; tuning changes the predictions
    un = masks_for_sparsities(*parse_spec("kwon:n=40,tune=false"), ctx(), [0.0, 0.6]).levels[0.6]
    assert torch.equal(un.keep, cm.levels[0.6].keep) and torch.equal(un.ffn_keep, cm.levels[0.6].ffn_keep)
    x = {"input_ids": torch.tensor([[5, 17, 33, 60, 2]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    with torch.no_grad(), gated(model, un.keep.double()), NeuronGates(model, un.ffn_keep.double()):
        want = model(**x).logits
    with torch.no_grad():
        assert torch.allclose(prune_heads(un.model, un.keep)(**x).logits, want, atol=1e-10)
        assert not torch.allclose(prune_heads(cm.levels[0.6].model, un.keep)(**x).logits, want, atol=1e-4)
    heads = masks_for_sparsities(*parse_spec("kwon_heads:n=40"), ctx(), [0.0, 0.25, 0.5])
    for s, n in ((0.0, 0), (0.25, 3), (0.5, 6)):
        assert int((~heads.levels[s].keep).sum()) == n and heads.levels[s].ffn_keep is None
    assert heads.levels[0.5].model is not None and heads.levels[0.0].model is None


def test_kwon_tunes_the_rearranged_student_toward_the_search_at_the_square_root_of_the_constraint(monkeypatch):
    """The wiring of the released ``main.py``: the teacher-assistant is ``search_mac`` at sqrt(c), *not* rearranged;
    the student is ``search_mac`` at c, rearranged greedily (released loop) in every layer; kwon_heads' teacher keeps
    the top round(sqrt(1 - level) x L x H) heads by Fisher. Fails if the student is passed as its own teacher or the
    teacher's constraint is c."""
    import hpbench.criteria.kwon as kw
    from hpbench.criteria import ScoringContext, masks_for_sparsities, parse_spec
    from hpbench.criteria.kwon_search import rearrange

    calls, searches = [], {}
    real_rescale, real_search = kw.rescale_mask, kw.search_mac
    monkeypatch.setattr(kw, "rescale_mask", lambda m, tk, tn, k, n, *a, **kw_: calls.append((tk, tn, k, n)) or
                        real_rescale(m, tk, tn, k, n, *a, **kw_))
    monkeypatch.setattr(kw, "search_mac", lambda *a: searches.setdefault(round(a[-1], 12), real_search(*a)))
    model, task = tiny_model("bert", seed=2).double(), get_task("sst2")
    ctx = ScoringContext(model, task, _encoded(n=48, seed=1), batch_size=5)
    masks_for_sparsities(*parse_spec("kwon:n=40"), ctx, [0.0, 0.6])
    grads = ctx.remember(("kwon_grads", 40), lambda: None)
    assert sorted(searches) == [pytest.approx(0.4), pytest.approx(0.4 ** 0.5)] and len(calls) == 1
    tk, tn, k, n = calls[0]
    sk, sn = searches[round(0.4, 12)]
    assert torch.equal(tk, searches[round(0.4 ** 0.5, 12)][0]) and torch.equal(tn, searches[round(0.4 ** 0.5, 12)][1])
    assert torch.equal(k, rearrange(sk, grads.head)) and torch.equal(n, rearrange(sn, grads.neuron))
    assert int(tk.sum()) + int(tn.sum()) > int(k.sum()) + int(n.sum())  # the teacher keeps more than the student
    calls.clear()
    ctx = ScoringContext(model, task, _encoded(n=48, seed=1), batch_size=5)
    masks_for_sparsities(*parse_spec("kwon_heads:n=40"), ctx, [0.0, 0.5])
    grads = ctx.remember(("kwon_grads", 40), lambda: None)
    (tk, tn, k, n), = calls
    want = torch.zeros(12, dtype=torch.bool)
    want[torch.argsort(grads.head_fisher.flatten(), descending=True, stable=True)[:round(0.5 ** 0.5 * 12)]] = True
    assert torch.equal(tk.flatten(), want) and bool(tn.all()) and int(k.sum()) == 6


def test_kwon_refuses_what_the_released_method_cannot_run_with_the_reason():
    from hpbench.criteria import ScoringContext, masks_for_sparsities, parse_spec
    from tiny_models import tiny

    task = get_task("sst2")
    llama, enc = tiny("llama")[0], _encoded(vocab=100)
    with pytest.raises(ValueError, match="one KV head per query head.*4 query heads over 2 KV heads"):
        masks_for_sparsities(*parse_spec("kwon:n=8"), ScoringContext(llama, task, enc, batch_size=2), [0.0, 0.5])
    gpt2 = tiny("gpt2")[0]
    with pytest.raises(ValueError, match="fits post-LN layers.*'gpt2' is not one.*tune=false"):
        masks_for_sparsities(*parse_spec("kwon_heads:n=8"), ScoringContext(gpt2, task, enc, batch_size=2), [0.0, 0.5])
    with pytest.raises(ValueError, match="n=0 must be >= 1"):
        parse_spec("kwon:n=0")
