"""Per-example predictions, vectorised bootstrap metrics and the report's intervals and paired tests."""
import json

import numpy as np
import pandas as pd
import pytest

from hpbench.evaluation.resampling import bootstrap_counts, resample
from hpbench.report import intervals as I
from hpbench.tasks import metrics as M


def _data(metric: str, n: int, rng):
    if metric in ("pearson", "spearman"):
        y = rng.normal(size=n).round(1)
        return y, [y + rng.normal(scale=s, size=n).round(1) for s in (0.5, 1.0)]
    y = rng.integers(0, 2, n)
    return y, [np.where(rng.random(n) < q, y, 1 - y) for q in (0.7, 0.9)]


@pytest.mark.parametrize("metric", ["accuracy", "f1", "matthews", "pearson", "spearman"])
def test_resampled_metric_equals_the_metric_on_the_drawn_examples(metric):
    """Each vectorised resample = the scikit-learn/scipy metric on the explicitly drawn examples."""
    rng = np.random.default_rng(1)
    y, preds = _data(metric, 60, rng)
    W = np.vstack([np.ones(60), bootstrap_counts(60, 5, seed=3)])
    got = resample(metric, y, preds, W)
    fn = M.METRICS.get(metric)
    for b, w in enumerate(W):
        idx = np.repeat(np.arange(60), w.astype(int))
        for s, p in enumerate(preds):
            assert got[s, b] == pytest.approx(fn(y[idx], np.asarray(p)[idx]), abs=1e-9)


def test_resampled_seqeval_equals_seqeval():
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    rng = np.random.default_rng(0)
    y = [rng.integers(0, 5, rng.integers(3, 9)).tolist() for _ in range(40)]
    p = [[t if rng.random() < 0.7 else int(rng.integers(0, 5)) for t in s] for s in y]
    W = np.vstack([np.ones(40), bootstrap_counts(40, 4, seed=1)])
    got = resample("seqeval_f1", y, [p], W, names)
    for b, w in enumerate(W):
        idx = np.repeat(np.arange(40), w.astype(int))
        tags = lambda seqs: [[names[t] for t in seqs[i]] for i in idx]  # noqa: E731
        assert got[0, b] == pytest.approx(M.seqeval_f1(tags(y), tags(p)), abs=1e-12)


def _tables(y, preds_by_crit: dict, seeds=(0,), sparsities=(0.0,), majority=None):
    """results/predictions/run tables of a synthetic run (predictions[crit][seed][sparsity])."""
    rows, res = [], []
    for crit, by_seed in preds_by_crit.items():
        for seed in seeds:
            for s in sparsities:
                if s not in by_seed[seed]:
                    continue
                p = by_seed[seed][s]
                rows.append({"criterion": crit, "seed": seed, "score_language": "en", "sparsity": s, "language": "en",
                             "y_true": json.dumps([int(v) for v in y]), "y_pred": json.dumps([int(v) for v in p]),
                             "model": "m", "task": "sst2", "train_language": "en"})
                res.append({"model": "m", "task": "sst2", "criterion": crit, "seed": seed, "sparsity": s,
                            "metric": "accuracy", "main": True, "value": float(np.mean(np.asarray(p) == y))})
    run = pd.DataFrame([{"model": "m", "task": "sst2", "eval_language": "en", "majority_accuracy": majority}])
    return {"predictions": pd.DataFrame(rows), "results": pd.DataFrame(res), "run": run}


def test_curve_interval_covers_the_true_accuracy_at_its_nominal_rate():
    """400 synthetic dev sets of 150 examples from a predictor with true accuracy 0.8: the 95 % interval
    covers 0.8 in 95 % +- 3 of them."""
    rng = np.random.default_rng(7)
    hits = 0
    for sim in range(400):
        y = rng.integers(0, 2, 150)
        p = np.where(rng.random(150) < 0.8, y, 1 - y)
        (r,) = I.replicates(_tables(y, {"his": {0: {0.0: p}}}), n_boot=400, seed=sim)
        row = I.curve_table([r]).iloc[0]
        hits += row["lo"] <= 0.8 <= row["hi"]
    assert 0.92 <= hits / 400 <= 0.98


def test_paired_test_false_positive_rate_on_two_identical_criteria():
    """Two criteria whose pruned models err independently at the same rate: 'significant' in <= 5 % +- 2
    of 400 simulations (the percentile bootstrap's interval gave 7.25 % here; the permutation test is exact)."""
    rng = np.random.default_rng(11)
    fp = 0
    for sim in range(400):
        y = rng.integers(0, 2, 150)
        a, b = (np.where(rng.random(150) < 0.75, y, 1 - y) for _ in range(2))
        reps = I.replicates(_tables(y, {"his": {0: {0.5: a}}, "x": {0: {0.5: b}}}, sparsities=(0.5,)), n_boot=200, seed=sim)
        fp += bool(I.curve_table(reps, n_perm=400).set_index("criterion").loc["x", "significant"])
    assert fp / 400 <= 0.07


def test_paired_test_detects_a_real_difference_and_auc_interval_orders_criteria():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    good = {s: np.where(rng.random(300) < 0.9 - 0.05 * s, y, 1 - y) for s in (0.0, 0.5)}
    bad = {0.0: good[0.0], 0.5: np.where(rng.random(300) < 0.6, y, 1 - y)}
    reps = I.replicates(_tables(y, {"his": {0: good}, "bad": {0: bad}}, sparsities=(0.0, 0.5)), n_boot=500)
    row = I.curve_table(reps).set_index(["criterion", "sparsity"]).loc[("bad", 0.5)]
    assert row["significant"] and row["diff_hi"] < 0 and row["p"] < 0.01
    auc = I.auc_table(reps).set_index("criterion")
    # AUC point = trapezoid of the two accuracies (independent computation)
    acc = lambda p: np.mean(p == y)  # noqa: E731
    assert auc.loc["bad", "AUC"] == pytest.approx((acc(bad[0.0]) + acc(bad[0.5])) / 2)
    assert auc.loc["bad", "significant"] and auc.loc["bad", "Δ hi"] < 0


def test_prunable_within_uses_the_interval_and_the_baseline():
    """A curve that truly loses 0, 0, 3 points at 0/30/60 % pruned: with 2,000 dev examples 30 % is
    prunable within 1 point and 60 % is not; with a majority baseline above the unpruned model, no answer."""
    rng = np.random.default_rng(5)
    n = 2000
    y = rng.integers(0, 2, n)
    base = rng.random(n)
    preds = {0.0: np.where(base < 0.85, y, 1 - y), 0.3: np.where(base < 0.85, y, 1 - y),
             0.6: np.where(base < 0.82, y, 1 - y)}
    t = _tables(y, {"his": {0: preds}}, sparsities=(0.0, 0.3, 0.6), majority=0.5)
    row = I.prunable_table(I.replicates(t, n_boot=400)).iloc[0]
    assert row["prunable %"] == 30 and row["reason"] == "ok"
    t["run"]["majority_accuracy"] = 0.9
    row = I.prunable_table(I.replicates(t, n_boot=400)).iloc[0]
    assert row["prunable %"] is None and "baseline 0.9000" in row["reason"]


def test_prunable_share_is_what_the_plans_really_pruned():
    """A layer-uniform plan on 3 units per layer prunes nothing at its 10 % level and a third at 20 % and 30 %: with the
    10 % level as good as the unpruned model and 20 % far worse, the certified share is 0 % (hand count: no head was
    pruned at any level that stayed within 1 point), not the nominal 10 %; a plan pruning exactly its levels keeps 10 %."""
    rng = np.random.default_rng(5)
    n = 2000
    y = rng.integers(0, 2, n)
    base = rng.random(n)
    good, bad = np.where(base < 0.85, y, 1 - y), np.where(base < 0.60, y, 1 - y)
    curve = {0.0: good, 0.1: good, 0.2: bad, 0.3: bad}
    t = _tables(y, {"wanda_sp": {0: curve}, "his": {0: curve}}, sparsities=(0.0, 0.1, 0.2, 0.3), majority=0.5)
    realised = {0.0: 0.0, 0.1: 0.0, 0.2: 1 / 3, 0.3: 1 / 3}
    t["results"]["pruned_share"] = [realised[s] if c == "wanda_sp" else s
                                    for c, s in zip(t["results"]["criterion"], t["results"]["sparsity"])]
    t["results"]["heads_total"] = 90  # HIS's 0.1 -> 9 of 90 heads, but 19/90 at 0.2: one head of rounding, not flagged
    t["results"].loc[(t["results"]["criterion"] == "his") & (t["results"]["sparsity"] == 0.2), "pruned_share"] = 19 / 90
    (r,) = I.replicates(t, n_boot=300)
    assert r.share("wanda_sp", 0.2) == pytest.approx(1 / 3) and r.share("his", 0.2) == 0.2
    rows = I.prunable_table([r]).set_index("criterion")
    assert rows.loc["wanda_sp", "prunable %"] == 0 and rows.loc["wanda_sp", "point estimate within 1 pt (%)"] == 0
    assert rows.loc["his", "prunable %"] == 10 and rows.loc["his", "point estimate within 1 pt (%)"] == 10
    from hpbench.report.findings import _off_levels

    said = _off_levels(r)  # the findings tell the reader the shares really pruned, and only for that criterion
    assert "0 % at the 10 % level" in said and "33 % at the 20 % level" in said and "his" not in said


def test_seed_spread_widens_the_interval():
    """Three seeds whose models differ by 10 points: the two-stage bootstrap interval is wider than one seed's."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    u = rng.random(200)
    by_seed = {s: {0.0: np.where(u < q, y, 1 - y)} for s, q in zip((0, 1, 2), (0.65, 0.75, 0.85))}
    one = I.curve_table(I.replicates(_tables(y, {"his": {0: by_seed[0]}}), n_boot=500)).iloc[0]
    three = I.curve_table(I.replicates(_tables(y, {"his": by_seed}, seeds=(0, 1, 2)), n_boot=500)).iloc[0]
    assert three["hi"] - three["lo"] > 1.5 * (one["hi"] - one["lo"])
    assert three["value"] == pytest.approx(np.mean([np.mean(by_seed[s][0.0] == y) for s in (0, 1, 2)]))


def test_permutation_differences_match_explicit_swaps():
    """The vectorised paired permutation (swapped per-example statistics) = the metric of explicitly swapped
    predictions, for a decomposable metric and for Spearman (generic path)."""
    from hpbench.evaluation.resampling import permutation_differences

    rng = np.random.default_rng(4)
    for metric in ("f1", "spearman"):
        y, (a, b) = _data(metric, 50, rng)
        swaps = rng.random((6, 50)) < 0.5
        got = permutation_differences(metric, y, a, b, swaps)
        fn = M.METRICS.get(metric)
        assert got[0] == pytest.approx(fn(y, a) - fn(y, b))
        for k, s in enumerate(swaps):
            assert got[k + 1] == pytest.approx(fn(y, np.where(s, b, a)) - fn(y, np.where(s, a, b)), abs=1e-9)


def test_delta_table_is_the_paired_change_from_the_unpruned_model():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 1500)
    u = rng.random(1500)
    preds = {0.0: np.where(u < 0.8, y, 1 - y), 0.5: np.where(u < 0.7, y, 1 - y)}
    d = I.delta_table(I.replicates(_tables(y, {"his": {0: preds}}, sparsities=(0.0, 0.5)), n_boot=300)).iloc[0]
    assert d["delta"] == pytest.approx(np.mean(preds[0.5] == y) - np.mean(preds[0.0] == y))
    assert d["significant"] and d["hi"] < 0


def test_auc_difference_uses_the_sparsities_both_criteria_ran():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 400)
    u = rng.random(400)
    acc = lambda q: np.where(u < q, y, 1 - y)  # noqa: E731
    his = {0.0: acc(0.9), 0.5: acc(0.8), 0.9: acc(0.5)}
    x = {0.0: acc(0.9), 0.5: acc(0.7)}
    t = _tables(y, {"his": {0: his}, "x": {0: x}}, sparsities=(0.0, 0.5, 0.9))
    row = I.auc_table(I.replicates(t, n_boot=100), n_perm=100).set_index("criterion").loc["x"]
    m = lambda p: np.mean(p == y)  # noqa: E731
    assert row["Δ vs his"] == pytest.approx((m(x[0.0]) + m(x[0.5])) / 2 - (m(his[0.0]) + m(his[0.5])) / 2)


def test_token_task_metrics_resample_sentences_and_score_their_tokens():
    """A token task's accuracy under a resample of sentences = accuracy over the drawn sentences' tokens."""
    rng = np.random.default_rng(12)
    y = [rng.integers(0, 3, rng.integers(2, 7)).tolist() for _ in range(30)]
    p = [[t if rng.random() < 0.7 else int(rng.integers(0, 3)) for t in s] for s in y]
    W = np.vstack([np.ones(30), bootstrap_counts(30, 4, seed=2)])
    for metric in ("accuracy", "matthews"):
        got = resample(metric, y, [p], W)
        for b, w in enumerate(W):
            idx = np.repeat(np.arange(30), w.astype(int))
            flat = lambda v: np.concatenate([np.asarray(v[i]) for i in idx])  # noqa: E731
            assert got[0, b] == pytest.approx(M.METRICS.get(metric)(flat(y), flat(p)), abs=1e-9)
