"""Claims as data, their measures and verdicts, on synthetic results whose truth is known."""
import json

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import _tables

from hpbench.claims import claims_table, load_claims, verdict
from hpbench.claims.measures import MEASURES, Evidence
from hpbench.report.intervals import replicates


def test_verdicts_follow_the_interval():
    assert verdict(0.01, 0.05, 0.0) == "holds"
    assert verdict(-0.05, -0.01, 0.0) == "does not hold"
    assert verdict(-0.01, 0.02, 0.0) == "inconclusive"
    assert verdict(float("nan"), 0.1, 0.0) == "not comparable"


def test_a_sized_claim_does_not_hold_when_its_size_lies_beyond_the_interval():
    from hpbench.claims.measures import sized_verdict

    assert sized_verdict(-0.09, 0.046, 0.0, 0.152) == "does not hold"  # straddles 0, but +15.2 % is excluded
    assert sized_verdict(0.02, 0.10, 0.0, 0.152) == "does not hold"  # better, but less than claimed
    assert sized_verdict(0.02, 0.20, 0.0, 0.152) == "holds" and sized_verdict(0.16, 0.3, 0.0, 0.152) == "holds"
    assert sized_verdict(-0.05, 0.20, 0.0, 0.152) == "inconclusive"
    assert sized_verdict(0.92, 1.02, 1.0, 2.04) == "does not hold" and sized_verdict(0.92, 1.02, 1.0, None) == "inconclusive"
    assert sized_verdict(-0.3, -0.01, 0.0, -0.2, higher_holds=False) == "holds"  # lower is better: reaches -20 %
    assert sized_verdict(-0.1, -0.01, 0.0, -0.2, higher_holds=False) == "does not hold"
    # on runs: a true +16.7 % (0.7 vs 0.6) reproduces a claimed +15.2 % and refutes a claimed +40 %
    t = _tables(3000, {"his": {0.0: 0.8, 0.5: 0.6}, "hies": {0.0: 0.8, 0.5: 0.7}})
    ev = Evidence(t, replicates(t, n_boot=300))
    (ok,) = MEASURES.get("relative_at")(ev, criterion="hies", reference="his", sparsities=[0.5], size=0.152)
    (no,) = MEASURES.get("relative_at")(ev, criterion="hies", reference="his", sparsities=[0.5], size=0.40)
    assert ok.lo < 0.152 < ok.hi and ok.verdict == "holds" and "+15.2 % is inside the interval" in ok.measurement
    assert no.hi < 0.40 and no.verdict == "does not hold" and "+40.0 % is outside the interval" in no.measurement


def test_shipped_claims_cover_every_seed_paper_with_known_measures():
    claims = load_claims()
    ids = [c.id for c in claims]
    assert len(ids) == len(set(ids))
    assert {"michel2019", "astar", "hies-quality-cola50", "hies-stability-cola50", "hies-stability-std",
            "hies-quality-vs-his", "hies-quality-vs-random", "hies-quality-openreview", "dsp", "smp", "ma2021"} <= set(ids)
    assert all(c.measure in MEASURES and c.setting.get("model") for c in claims)


def test_unknown_measure_is_an_error_listing_the_known_ones(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("- {id: x, paper: p, claim: c, paper_value: v, measure: nope}\n")
    with pytest.raises(KeyError, match="pruned_within"):
        load_claims(p)


def test_pruned_within_holds_fails_and_is_not_comparable_as_the_truth_says():
    ok = _tables(3000, {"his": {0.0: 0.85, 0.4: 0.85}})
    bad = _tables(3000, {"his": {0.0: 0.85, 0.4: 0.75}})
    low = _tables(3000, {"his": {0.0: 0.85, 0.4: 0.85}}, majority=0.9)
    f = lambda t: MEASURES.get("pruned_within")(Evidence(t, replicates(t, n_boot=300)), criterion="his", sparsity=0.4)[0]  # noqa: E731
    assert f(ok).verdict == "holds" and f(bad).verdict == "does not hold"
    assert f(low).verdict == "not comparable" and "baseline" in f(low).measurement
    assert f(bad).value == pytest.approx(-0.10, abs=0.03)


def test_auc_gain_is_the_relative_auc_difference():
    t = _tables(2000, {"his": {0.0: 0.8, 0.5: 0.6}, "hies": {0.0: 0.8, 0.5: 0.7}})
    (f,) = MEASURES.get("auc_gain")(Evidence(t, replicates(t, n_boot=300)), criterion="hies", reference="his")
    r = t["results"]
    auc = {c: np.mean([(g[g.sparsity == 0.0].value.iloc[0] + g[g.sparsity == 0.5].value.iloc[0]) / 2
                       for _, g in r[r.criterion == c].groupby("seed")]) for c in ("his", "hies")}
    assert f.value == pytest.approx((auc["hies"] - auc["his"]) / auc["his"])
    assert f.verdict == "holds"


def test_stability_gain_is_the_ratio_of_seed_stds():
    t = _tables(400, {"his": {0.0: 0.8, 0.5: 0.6}, "hies": {0.0: 0.8, 0.5: 0.7}})
    # overwrite the pruned values with known spreads: his std 0.04, hies std 0.01 across 3 seeds
    r = t["results"]
    for crit, vals in (("his", [0.60, 0.64, 0.68]), ("hies", [0.70, 0.71, 0.72])):
        for sd, v in zip((0, 1, 2), vals):
            r.loc[(r.criterion == crit) & (r.seed == sd) & (r.sparsity == 0.5), "value"] = v
    (f,) = MEASURES.get("stability_gain")(Evidence(t, []), criterion="hies", reference="his")
    assert f.value == pytest.approx(4.0)
    assert f.lo < 4.0 < f.hi and "scoring subsets" in f.measurement


def test_claims_table_without_predictions_says_not_comparable():
    t = _tables(50, {"his": {0.0: 0.8}})
    t["predictions"] = t["predictions"].iloc[0:0]
    table = claims_table(t)
    assert set(table["verdict"]) == {"not comparable"} and len(table) == len(load_claims())


def test_criterion_patterns_match_parameterised_specs_only():
    from hpbench.claims.measures import matches

    assert matches("smp", "smp*") and matches("smp:steps=30", "smp*")
    assert not matches("smp_distance", "smp*") and not matches("smp:steps=30", "smp")


def test_the_best_hies_setting_beats_his_only_after_the_search_correction():
    from hpbench.report.hies_grid import best_settings

    grid = pd.DataFrame([{"model": "m", "task": "t", "alpha": a, "entropy_sign": -1, "norm": "global",
                          "criterion": f"hies:alpha={a}", "AUC": 0.8 + a / 100, "Δ AUC": a / 100, "Δ lo": 0.0, "Δ hi": 0.1,
                          "p": 0.02, "significant": True, "unpruned beats baseline": True} for a in (0.0, 0.5, 1.0)])
    row = best_settings(grid).iloc[0]
    assert row["alpha"] == 1.0 and row["p × settings (Bonferroni)"] == pytest.approx(0.06)
    assert row["beats HIS significantly"] == "no"  # 0.02 alone would say yes; 3 settings were searched
    grid["p"] = 0.01
    assert best_settings(grid).iloc[0]["beats HIS significantly"] == "yes"
    grid["unpruned beats baseline"] = False
    assert best_settings(grid).iloc[0]["beats HIS significantly"] == "no"


def test_comparisons_on_a_model_at_the_majority_baseline_are_not_comparable():
    t = _tables(500, {"his": {0.0: 0.55, 0.5: 0.5}, "hies": {0.0: 0.55, 0.5: 0.6}, "dsp": {0.0: 0.55, 0.5: 0.6}}, majority=0.6)
    ev = Evidence(t, replicates(t, n_boot=100))
    for name, kw in (("auc_gain", {"criterion": "hies"}), ("noninferior", {"criterion": "dsp*"})):
        (f,) = MEASURES.get(name)(ev, reference="his", **kw)
        assert f.verdict == "not comparable" and "baseline" in f.measurement


def test_relative_at_is_the_papers_ratio_at_the_claimed_level():
    """relative_at = metric(hies) / metric(his) - 1 at 50 %, from the run's own numbers; holds when truly better,
    does not hold when worse, and the task filter keeps other tasks out."""
    t = _tables(3000, {"his": {0.0: 0.8, 0.1: 0.8, 0.5: 0.6}, "hies": {0.0: 0.8, 0.1: 0.8, 0.5: 0.7}})
    ev = Evidence(t, replicates(t, n_boot=300))
    (f,) = MEASURES.get("relative_at")(ev, criterion="hies", reference="his", sparsities=[0.5])
    r = t["results"]
    at = {c: r[(r.criterion == c) & (r.sparsity == 0.5)]["value"].mean() for c in ("his", "hies")}
    assert f.value == pytest.approx(at["hies"] / at["his"] - 1) and f.verdict == "holds" and f.lo > 0
    (g,) = MEASURES.get("relative_at")(ev, criterion="his", reference="hies", sparsities=[0.5])
    assert g.verdict == "does not hold"
    assert MEASURES.get("relative_at")(ev, criterion="hies", sparsities=[0.5], tasks=["cola"]) == []
    (h,) = MEASURES.get("relative_at")(ev, criterion="hies", sparsities=[0.3])
    assert h.verdict == "not comparable" and "30 % not swept" in h.measurement


def test_stability_percent_by_hand_and_its_ratio():
    from hpbench.claims.measures import stability_percent

    assert stability_percent(np.array([0.5, 0.7]), 0.8) == pytest.approx(100 * (1 - np.std([0.5, 0.7], ddof=1) / 0.8))
    assert np.isnan(stability_percent(np.array([0.5]), 0.8))
    # hies: the same pruned accuracy for every seed (one shared draw); his: seeds far apart
    t = _tables(3000, {"his": {0.0: 0.8, 0.5: 0.6}, "hies": {0.0: 0.8, 0.5: 0.7}}, seeds=(0, 1, 2, 3))
    p = t["predictions"]
    y = np.array(json.loads(p["y_true"].iloc[0]))
    for sd, acc in zip((0, 1, 2, 3), (0.45, 0.75, 0.5, 0.7)):
        row = (p.criterion == "his") & (p.seed == sd) & (p.sparsity == 0.5)
        u = np.random.default_rng(sd).random(len(y))
        p.loc[row, "y_pred"] = json.dumps(np.where(u < acc, y, 1 - y).tolist())
    ev = Evidence(t, replicates(t, n_boot=300))
    (f,) = MEASURES.get("stability_percent_ratio")(ev, criterion="hies", reference="his", sparsity=0.5)
    r = ev.reps[0]
    want = [stability_percent(r.point[r.criteria.index(c), 1], r.point[r.criteria.index(c), 0].mean()) for c in ("hies", "his")]
    assert f.value == pytest.approx(want[0] / want[1]) and f.value > 1.2
    assert f.verdict in ("holds", "inconclusive") and f.lo <= f.value <= f.hi


def _renamed(t: dict, model: str, heads: int) -> dict:
    """A synthetic run under another model name and head count."""
    out = {}
    for k, df in t.items():
        df = df.copy()
        if "model" in df:
            df["model"] = model
        if "run_id" in df:
            df["run_id"] = df["run_id"].str.replace("m-", f"{model}-", regex=False)
        out[k] = df
    out["results"]["heads_total"] = heads
    return out


def test_a_claim_about_144_heads_is_judged_on_the_144_head_model_and_says_so():
    """michel2019 (BERT-base, 144 heads): with a 72-head run where HIS at 40 % stays within a point and a 144-head run
    where it drops 10 points, only the 144-head run is judged (does not hold), and its row says '144 (as the paper)';
    without the 144-head run the 72-head one is judged (holds) and its row says '72 (paper: 144)'. The findings'
    claim line counts the rows judged at the paper's scale."""
    from hpbench.report.findings import claims_counts

    small = _renamed(_tables(3000, {"his": {0.0: 0.85, 0.4: 0.85}}), "small", 72)
    big = _renamed(_tables(3000, {"his": {0.0: 0.85, 0.4: 0.75}}, seed=1), "big", 144)
    both = {k: pd.concat([small[k], big[k]], ignore_index=True) for k in small}
    michel = [c for c in load_claims() if c.id == "michel2019"]
    table = claims_table(both, claims=michel)
    assert table["run"].tolist() == ["big-sst2-en"] and table["verdict"].tolist() == ["does not hold"]
    assert table["heads"].tolist() == ["144 (as the paper)"]
    assert "judged on a model with the paper's number of heads (144)" in claims_counts(table)
    alone = claims_table(small, claims=michel)
    assert alone["run"].tolist() == ["small-sst2-en"] and alone["verdict"].tolist() == ["holds"]
    assert alone["heads"].tolist() == ["72 (paper: 144)"] and "paper's number of heads" not in claims_counts(alone)
