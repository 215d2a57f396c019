"""``kwon:ffn=true`` (heads and FFN neurons under a FLOPs budget) against independent computations: the joint search
equals a brute-force optimum over every mask of 2 x 3 heads and 2 x 4 neurons; the neuron Fisher equals squared
central finite differences; the greedy rearrangement never worsens the block objective; neuron mask tuning equals
numpy.linalg.lstsq on explicitly collected activations; physically pruned neurons compute what gate 0 computes on
every architecture, save and load both ways, and cost the FLOPs a hand count gives."""
import itertools

import numpy as np
import pytest
import torch

from hpbench.criteria.kwon import pruned_cost
from hpbench.criteria.kwon_ffn import flops_budget, gate_fisher, greedy_rearrange, search_flops
from hpbench.models.ffn import NeuronGates, ffn_keep_from_pruned, neurons_per_layer, prune_neurons
from hpbench.models.flops import encoder_flops, flops_for_mask, unit_flops
from hpbench.models.heads import from_pretrained, prune_heads, save_pretrained
from conftest import needs_shared, tiny_model
from tiny_models import KINDS, tiny
from test_kwon import _encoded, _psd, inputs_one_by_one

NEURON_KEEP = torch.tensor([[1] * 40 + [0] * 24, [0] * 64, [0, 1] * 32], dtype=torch.bool)  # layer 1: no neuron left


@pytest.mark.parametrize("seed", range(4))
def test_the_flops_search_equals_the_brute_force_optimum_on_2x3_heads_and_2x4_neurons(seed):
    g = torch.Generator().manual_seed(seed)
    head, neuron = torch.rand(2, 3, generator=g), torch.rand(2, 4, generator=g) * 0.6
    ch, cn = 7, 3  # a head costs 7, a neuron 3
    dense = 6 * ch + 8 * cn
    hm = np.array(list(itertools.product([0, 1], repeat=6)))  # every head mask
    nm = np.array(list(itertools.product([0, 1], repeat=8)))  # every neuron mask
    value = (hm @ head.flatten().double().numpy())[:, None] + (nm @ neuron.flatten().double().numpy())[None, :]
    cost = (hm.sum(1) * ch)[:, None] + (nm.sum(1) * cn)[None, :]
    for s in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9):
        budget = flops_budget(dense, s)
        kh, kn = search_flops(head, neuron, ch, cn, budget)
        assert int(kh.sum()) * ch + int(kn.sum()) * cn <= budget
        got = float((head.double() * kh).sum() + (neuron.double() * kn).sum())
        assert got == pytest.approx(value[cost <= budget].max(), abs=1e-12)


def test_the_search_with_the_real_unit_costs_stays_within_the_budget():
    model = tiny_model("bert")
    ch, cn = unit_flops(model.config, 128)
    dense = flops_for_mask(model.config, torch.ones(3, 4, dtype=torch.bool), 1, 128)
    assert 12 * ch + 3 * 64 * cn == dense  # the unit costs add up to the model's FLOPs
    g = torch.Generator().manual_seed(0)
    for s in (0.1, 0.4, 0.8):
        kh, kn = search_flops(torch.rand(3, 4, generator=g), torch.rand(3, 64, generator=g), ch, cn, flops_budget(dense, s))
        assert flops_for_mask(model.config, kh, 1, 128, kn.sum(1).tolist()) <= (1 - s) * dense


@pytest.mark.parametrize("seed", range(3))
def test_greedy_rearrangement_keeps_counts_and_never_worsens_the_block_objective(seed):
    N = 30
    F = _psd(N, seed)
    for k in (1, 7, 15, 29):
        start = torch.ones(N, dtype=torch.bool)
        start[torch.randperm(N, generator=torch.Generator().manual_seed(seed * 10 + k))[:k]] = False
        got = greedy_rearrange(F, start)
        assert int((~got).sum()) == k
        assert pruned_cost(F, (~got).nonzero().flatten().tolist()) <= pruned_cost(F, (~start).nonzero().flatten().tolist()) + 1e-12
    # on a small layer the greedy pass reaches the brute-force optimum it is a heuristic for, or comes close
    F6 = _psd(6, seed)
    start = torch.tensor([0, 0, 1, 1, 1, 1], dtype=torch.bool)
    got = pruned_cost(F6, (~greedy_rearrange(F6, start)).nonzero().flatten().tolist())
    assert got >= min(pruned_cost(F6, list(p)) for p in itertools.combinations(range(6), 2)) - 1e-12


def _loss(model, task, e, hg, ng):
    from hpbench.models.heads import gated

    with torch.no_grad(), gated(model, hg), NeuronGates(model, ng):
        out = model(**{k: torch.tensor([v]) for k, v in e.items() if k != "labels"})
    return float(task.loss_per_example(out.logits, torch.tensor([e["labels"]]))[0])


def test_the_neuron_and_head_fisher_equal_squared_central_finite_differences():
    from hpbench.tasks import get_task

    model, task, enc, eps = tiny_model("bert").double(), get_task("sst2"), _encoded(n=3), 1e-5
    fi = gate_fisher(model, task, enc, batch_size=2)
    ones = {"head": torch.ones(3, 4, dtype=torch.float64), "neuron": torch.ones(3, 64, dtype=torch.float64)}

    def fd_fisher(which: str, l: int, j: int) -> float:
        """Mean over examples of the squared central difference of the loss w.r.t. gate (l, j) of ``which``."""
        d = []
        for e in enc:
            loss = []
            for step in (eps, -eps):
                g = {k: v.clone() for k, v in ones.items()}
                g[which][l, j] += step
                loss.append(_loss(model, task, e, g["head"], g["neuron"]))
            d.append((loss[0] - loss[1]) / (2 * eps))
        return float(np.mean(np.square(d)))

    for (l, j) in [(0, 0), (1, 17), (2, 63)]:
        assert float(fi.neuron[l, j]) == pytest.approx(fd_fisher("neuron", l, j), rel=1e-5, abs=1e-12)
        assert float(fi.neuron_block[l, j, j]) == pytest.approx(float(fi.neuron[l, j]), rel=1e-12)
    for (l, h) in [(0, 1), (2, 3)]:
        assert float(fi.head[l, h]) == pytest.approx(fd_fisher("head", l, h), rel=1e-5, abs=1e-12)


def test_neuron_mask_tuning_equals_numpy_lstsq_on_the_same_activations():
    from hpbench.recovery.mask_tuning import neuron_gram, tuned_scales

    model, enc = tiny_model("bert").double(), _encoded(n=30)
    downs = [model.bert.encoder.layer[l].output.dense for l in range(3)]
    acts = inputs_one_by_one(model, downs, enc)
    keep = torch.rand(3, 64, generator=torch.Generator().manual_seed(3)) > 0.4
    got = tuned_scales(neuron_gram(model, enc, batch_size=2), keep)
    for l, d in enumerate(downs):
        a, W = acts[l].numpy(), d.weight.detach().numpy()  # [tokens, 64], [32, 64]
        cols = [np.outer(a[:, j], W[:, j]).ravel() for j in range(64)]  # c_j over tokens x outputs
        A = np.stack([cols[j] for j in range(64) if keep[l, j]], 1)
        y = np.sum(cols, 0)
        want = np.linalg.lstsq(A, y, rcond=None)[0]
        m = got[l][keep[l]].numpy()
        # the same minimum of the squared residual, and (where the problem is well conditioned) the same values
        assert np.sum((A @ m - y) ** 2) == pytest.approx(np.sum((A @ want - y) ** 2), rel=1e-7)
        np.testing.assert_allclose(m, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_pruned_neurons_compute_what_gate_zero_computes_and_round_trip(kind, tmp_path):
    model, batch = tiny(kind)
    keep_heads = torch.tensor([[1, 0, 1, 1], [1, 1, 1, 1], [0, 0, 1, 1]], dtype=torch.bool)
    from hpbench.models.heads import gated

    with torch.no_grad(), gated(model, keep_heads.float()), NeuronGates(model, NEURON_KEEP.float()):
        want = model(**batch).logits
    prune_neurons(prune_heads(model, keep_heads), NEURON_KEEP)
    assert neurons_per_layer(model) == [40, 0, 32]
    assert torch.equal(ffn_keep_from_pruned(model), NEURON_KEEP)
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, want, atol=1e-5)
    assert encoder_flops(model, 1, 128) == flops_for_mask(model.config, keep_heads, 1, 128, [40, 0, 32])
    for saver in ("hpbench", "transformers"):
        out = tmp_path / saver
        assert save_pretrained(model, out) == "hpbench" if saver == "hpbench" else model.save_pretrained(out) is None
        with torch.no_grad():
            assert torch.allclose(from_pretrained(out)(**batch).logits, want, atol=1e-5)


def test_flops_of_pruned_neurons_equal_a_hand_count():
    model = tiny_model("bert")  # d 32, 4 heads of 8, FFN 64, 3 layers
    T = 128
    heads = [4, 2, 0]
    ffn = [64, 10, 0]
    hand = sum(2 * T * 32 * 8 * h * 3 + 2 * 2 * h * T * T * 8 + 2 * T * h * 8 * 32 + 2 * 2 * T * 32 * f for h, f in zip(heads, ffn))
    keep = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    assert flops_for_mask(model.config, keep, 1, T, ffn) == hand


def test_kwon_ffn_end_to_end_meets_each_flops_budget_and_refuses_grouped_kv():
    from hpbench.criteria import ScoringContext, masks_for_sparsities, parse_spec
    from hpbench.tasks import get_task

    model = tiny_model("bert").double()
    crit, params = parse_spec("kwon:n=5,ffn=true")
    cm = masks_for_sparsities(crit, params, ScoringContext(model, get_task("sst2"), _encoded(), batch_size=2),
                              [0.0, 0.3, 0.6])
    dense = flops_for_mask(model.config, torch.ones(3, 4, dtype=torch.bool), 1, 128)
    assert cm.levels[0.0].model is None and bool(cm.levels[0.0].ffn_keep.all())
    for s in (0.3, 0.6):
        r = cm.levels[s]
        assert flops_for_mask(model.config, r.keep, 1, 128, r.ffn_keep.sum(1).tolist()) <= (1 - s) * dense
        assert neurons_per_layer(r.model) == r.ffn_keep.sum(1).tolist()  # its own model has the neurons pruned
        assert neurons_per_layer(model) == [64, 64, 64]  # the fine-tuned model is untouched
    # without mask tuning the level's own model is the fine-tuned one with its heads and neurons gated off
    from hpbench.models.heads import gated

    crit, params = parse_spec("kwon:n=5,ffn=true,tune=false")
    r = masks_for_sparsities(crit, params, ScoringContext(model, get_task("sst2"), _encoded(), batch_size=2), [0.0, 0.4]).levels[0.4]
    x = {"input_ids": torch.tensor([[5, 17, 33, 60, 2]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    with torch.no_grad(), gated(model, r.keep.double()), NeuronGates(model, r.ffn_keep.double()):
        want = model(**x).logits
    with torch.no_grad():
        assert torch.allclose(prune_heads(r.model, r.keep)(**x).logits, want, atol=1e-10)
    llama = tiny("llama")[0]
    with pytest.raises(ValueError, match="one KV head per query head.*4 query heads over 2 KV heads"):
        masks_for_sparsities(crit, params, ScoringContext(llama, get_task("sst2"), _encoded(), batch_size=2), [0.0, 0.5])


@needs_shared
def test_a_flops_budgeted_run_is_compared_at_equal_flops_never_at_equal_heads(tiny_model_dir, tmp_path, monkeypatch):
    from hpbench.report.figures import main_results
    from hpbench.report.flops import equal_flops_table
    from hpbench.report.intervals import curve_table, replicates
    from hpbench.run import run_benchmark

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    ffn = "kwon:n=16,ffn=true"
    kw = dict(model=tiny_model_dir, results_dir=str(tmp_path / "res"), task="sst2", criteria=["his", ffn],
              sparsities=[0.0, 0.1, 0.2, 0.5], seeds=[0], n_train=32, epochs=1.0, max_len=24, n_dev=24, n_score=8,
              precision="fp32")
    t = run_benchmark(**kw)
    res = t["results"][t["results"]["main"]]
    heads, flops = res[res["criterion"] == "his"], res[res["criterion"] == ffn]
    assert (heads["budget"] == "heads").all() and (flops["budget"] == "flops").all()
    assert (heads["ffn_pruned_share"] == 0).all() and (flops.loc[flops["sparsity"] > 0, "ffn_pruned_share"] > 0).all()
    # the FLOPs budget is met at every level, by the FLOP count of the stored masks
    m = t["masks"]
    for _, row in m[m["criterion"] == ffn].iterrows():
        keep = torch.tensor([c == "1" for c in row["mask"]]).view(2, 4)
        neurons = torch.tensor([c == "1" for c in row["ffn_mask"]]).view(2, 64).sum(1).tolist()
        share = 1 - flops_for_mask(_cfg(tiny_model_dir), keep, 1, 128, neurons) / flops_for_mask(
            _cfg(tiny_model_dir), torch.ones(2, 4, dtype=torch.bool), 1, 128)
        assert share >= row["sparsity"] - 1e-9
        assert float(flops.loc[flops["sparsity"] == row["sparsity"], "flops_pruned_share"].iloc[0]) == pytest.approx(share)
    # head-share views leave it out; the equal-FLOPs table has it
    assert ffn not in set(main_results(t["results"])["criterion"])
    assert all(ffn not in r.criteria for r in replicates(t))
    eq = equal_flops_table(t, n_boot=50)
    assert set(eq["criterion"]) == {ffn} and set(eq["versus"]) == {"his"} and len(eq) == 3
    his = heads.set_index("sparsity")
    x, y = his["flops_pruned_share"].to_numpy(), his["value"].to_numpy()
    for _, row in eq.iterrows():
        f = row["% FLOPs removed"] / 100
        if f > x.max() + 1e-12:  # beyond heads alone: against HIS's furthest level
            assert row["compared at"].startswith("fewer FLOPs") and row["versus at % FLOPs removed"] == pytest.approx(100 * x.max())
            want = y[np.argmax(x)]
        else:  # linear interpolation of HIS's curve at the same FLOPs share, by hand
            assert row["compared at"] == "same FLOPs"
            j = int(np.searchsorted(x, f))
            want = y[j] if x[j] == f else y[j - 1] + (f - x[j - 1]) / (x[j] - x[j - 1]) * (y[j] - y[j - 1])
        assert row["versus value"] == pytest.approx(want) and row["Δ"] == pytest.approx(row["value"] - want)
    assert set(eq["compared at"]) == {"same FLOPs", "fewer FLOPs (heads alone reach no further)"}  # both cases met
    assert ffn not in set(curve_table(replicates(t), paired=False)["criterion"])
    from hpbench.report.figures import jaccard

    assert list(jaccard(t["masks"], 0.5).index) == ["his"]
    from hpbench.report.flops import flops_findings

    from hpbench.report.flops import equal_flops_view

    text = flops_findings(eq)
    for _, row in eq.iterrows():  # each level in the Findings: with its Δ where HIS reaches it, beyond that its value
        assert f"{row['% FLOPs removed']:.0f} % of FLOPs removed" in text
        assert f"{row['Δ']:+.3f}" in text and f"{row['value']:.3f} [{row['lo']:.3f}" in text
    assert ("by pruning heads alone" in text) == (eq["compared at"] != "same FLOPs").any()
    view = equal_flops_view(eq)  # one row per level, a Δ column per heads-only criterion
    assert len(view) == 3 and list(view.columns[-1:]) == ["Δ vs his"]
    assert view["Δ vs his"].str.contains("his at its furthest").sum() == int((eq["compared at"] != "same FLOPs").sum())
    # Kwon et al.'s claim is measured on the FLOPs-budgeted run: its metric at 50 % of the FLOPs removed minus the
    # unpruned model's (from the results table, by hand); with heads-only runs, the fallback says why not
    from hpbench.claims.measures import MEASURES, Evidence
    from hpbench.report.intervals import Replicates

    monkeypatch.setattr(Replicates, "clears_baseline", lambda *a, **k: True)  # (a tiny random model beats nothing)
    ev = Evidence(t, replicates(t))
    (f,) = MEASURES.get("flops_within")(ev, criterion="kwon*", flops=0.5)
    v = flops.set_index("sparsity")["value"]
    assert f.value == pytest.approx(v[0.5] - v[0.0]) and "50 % of the encoder FLOPs removed" in f.measurement
    no_ffn = {**t, "results": t["results"][t["results"]["criterion"] == "his"]}
    (g,) = MEASURES.get("flops_within")(Evidence(no_ffn, replicates(no_ffn)), criterion="kwon*", flops=0.5,
                                        fallback={"criterion": "his", "sparsity": 0.5, "why": "heads only"})
    assert g.verdict == "not comparable" and g.measurement.endswith("heads only")


def _cfg(path):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path)


def test_the_run_header_says_which_criteria_read_the_levels_as_flops():
    import pandas as pd

    from hpbench.report.text import _budget_note

    res = pd.DataFrame({"criterion": ["his", "kwon:ffn=true"], "budget": ["heads", "flops"]})
    assert "<code>kwon:ffn=true</code> read the same levels as shares of the encoder's FLOPs" in _budget_note({"results": res})
    assert _budget_note({"results": res[res["budget"] == "heads"]}) == ""


def test_on_a_tiny_model_of_2x3_heads_and_2x4_neurons_the_search_equals_brute_force_with_its_own_fisher_and_costs():
    """The same objective as the paper's search (kept Fisher, FLOPs <= budget), on a real tiny model: its gate Fisher
    from :func:`gate_fisher` and its unit FLOP costs; every one of the 2^6 x 2^8 masks checked."""
    from transformers import BertConfig, BertForSequenceClassification

    from hpbench.tasks import get_task

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=200, hidden_size=12, num_hidden_layers=2, num_attention_heads=3, intermediate_size=4,
                     max_position_embeddings=40, initializer_range=0.5, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    model = BertForSequenceClassification(cfg).double().eval()
    fi = gate_fisher(model, get_task("sst2"), _encoded(n=6), batch_size=3)
    ch, cn = unit_flops(cfg, 128)
    dense = flops_for_mask(cfg, torch.ones(2, 3, dtype=torch.bool), 1, 128)
    hm = np.array(list(itertools.product([0, 1], repeat=6)))
    nm = np.array(list(itertools.product([0, 1], repeat=8)))
    value = (hm @ fi.head.flatten().numpy())[:, None] + (nm @ fi.neuron.flatten().numpy())[None, :]
    by_counts = {}  # FLOPs depend on the per-layer counts only: count each combination once

    def count(h, n):
        key = (tuple(h.reshape(2, 3).sum(1)), tuple(n.reshape(2, 4).sum(1)))
        if key not in by_counts:
            by_counts[key] = flops_for_mask(cfg, torch.tensor(h, dtype=torch.bool).view(2, 3), 1, 128, list(key[1]))
        return by_counts[key]

    flops = np.array([[count(h, n) for n in nm] for h in hm])
    for s in (0.1, 0.3, 0.5, 0.7):
        budget = flops_budget(dense, s)
        kh, kn = search_flops(fi.head, fi.neuron, ch, cn, budget)
        assert flops_for_mask(cfg, kh, 1, 128, kn.sum(1).tolist()) <= budget
        got = float((fi.head * kh).sum() + (fi.neuron * kn).sum())
        assert got == pytest.approx(value[flops <= budget].max(), rel=1e-12)


def _released_greedy(keep, grads):
    """WoosukKwon/retraining-free-pruning prune/rearrange.py:greedy_rearrange, transcribed to numpy (grads:
    [mini-batches, units]; returns the new keep mask)."""
    import numpy as np

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
    """With the block F = G^T G of the same per-batch gradients G, starting from the mask the search gives (the lowest
    diagonal units pruned), hpbench's greedy pass returns exactly the released loop's mask."""
    import numpy as np

    G = torch.randn(64, 12, generator=torch.Generator().manual_seed(seed), dtype=torch.double)
    G[:, seed % 12] *= 3.0  # one dominant unit, and correlated pairs, so the greedy pass has work to do
    G[:, (seed + 5) % 12] = G[:, (seed + 2) % 12] * 0.9 + 0.1 * G[:, (seed + 5) % 12]
    F = G.T @ G
    keep = torch.ones(12, dtype=torch.bool)
    keep[torch.argsort(F.diagonal(), stable=True)[:n_pruned]] = False
    want = _released_greedy(keep.numpy().astype(np.int64), G.numpy())
    got = greedy_rearrange(F, keep)
    assert got.numpy().astype(np.int64).tolist() == want.tolist()
