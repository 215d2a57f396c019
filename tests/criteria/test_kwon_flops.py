"""``kwon`` (heads and FFN neurons under a MAC budget) in a run: physically pruned neurons compute what gate 0 computes
on every architecture, save and load both ways, and cost the FLOPs a hand count gives; a budgeted run is compared at
equal FLOPs, never at equal heads, and its stored masks meet the released MAC budget by a hand count."""

import numpy as np
import pytest
import torch

from hpbench.criteria.kwon_search import mac_per_head, mac_per_neuron
from hpbench.models.ffn import NeuronGates, ffn_keep_from_pruned, neurons_per_layer, prune_neurons
from hpbench.models.flops import encoder_flops, flops_for_mask, unit_flops
from hpbench.models.heads import from_pretrained, prune_heads, save_pretrained
from conftest import needs_shared, tiny_model
from tiny_models import KINDS, tiny

NEURON_KEEP = torch.tensor([[1] * 40 + [0] * 24, [0] * 64, [0, 1] * 32], dtype=torch.bool)  # layer 1: no neuron left


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


@needs_shared
def test_a_flops_budgeted_run_is_compared_at_equal_flops_never_at_equal_heads(tiny_model_dir, tmp_path, monkeypatch):
    from hpbench.report.figures import main_results
    from hpbench.report.flops import equal_flops_table
    from hpbench.report.intervals import curve_table, replicates
    from hpbench.run import run_benchmark

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    ffn = "kwon:n=16"
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
        seq = float(flops.loc[flops["sparsity"] == row["sparsity"], "kwon_seq_len"].iloc[0])  # the dev set's mean length
        mh, mn = mac_per_head(seq, 32, 8), mac_per_neuron(seq, 32)
        assert int(keep.sum()) * mh + sum(neurons) * mn <= (1 - row["sparsity"]) * 2 * (4 * mh + 64 * mn) + mn
        share = 1 - flops_for_mask(_cfg(tiny_model_dir), keep, 1, 128, neurons) / flops_for_mask(
            _cfg(tiny_model_dir), torch.ones(2, 4, dtype=torch.bool), 1, 128)
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

    res = pd.DataFrame({"criterion": ["his", "kwon"], "budget": ["heads", "flops"]})
    assert "<code>kwon</code> read the same levels as shares of the encoder's FLOPs" in _budget_note({"results": res})
    assert _budget_note({"results": res[res["budget"] == "heads"]}) == ""
