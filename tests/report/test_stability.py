"""Stability across seeds: intervals of a std and of a ratio of stds, and the side-by-side view."""
import numpy as np
import pandas as pd
import pytest

from hpbench.report.stability import ratio_interval, stability_view, std_interval


def test_std_interval_covers_sigma_at_its_nominal_rate():
    rng = np.random.default_rng(0)
    hits = sum(lo <= 0.02 <= hi for lo, hi in (std_interval(rng.normal(0.8, 0.02, 4).std(ddof=1), 4) for _ in range(400)))
    assert 0.92 <= hits / 400 <= 0.98


def test_ratio_interval_covers_the_true_ratio_at_its_nominal_rate():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(400):
        r, lo, hi = ratio_interval(rng.normal(0, 0.04, 5).std(ddof=1), rng.normal(0, 0.01, 5).std(ddof=1), 5, 5)
        hits += lo <= 4.0 <= hi
    assert 0.92 <= hits / 400 <= 0.98


def _rows(run_id, crit, values):
    return [{"run_id": run_id, "model": "m", "task": "sst2", "language": "en", "criterion": crit, "seed": sd, "sparsity": s,
             "metric": "accuracy", "main": True, "value": v} for sd, v in enumerate(values) for s in (0.0, 0.5)]


def test_view_puts_scoring_subsets_and_fine_tuning_seeds_side_by_side():
    res = pd.DataFrame(_rows("m-sst2-en", "his", [0.80, 0.82, 0.84]) + _rows("m-sst2-en-ftseeds", "his", [0.70, 0.80, 0.90])
                       + _rows("m-sst2-en", "hies", [0.81, 0.81, 0.81]))
    run = pd.DataFrame([{"run_id": "m-sst2-en", "finetune_per_seed": False}, {"run_id": "m-sst2-en-ftseeds", "finetune_per_seed": True}])
    v = stability_view(res, run)
    assert v.loc[("m", "sst2", "en", "his"), "std, scoring subsets"].startswith("0.0200 [")
    assert v.loc[("m", "sst2", "en", "his"), "std, fine-tuning seeds"].startswith("0.1000 [")
    assert v.loc[("m", "sst2", "en", "hies"), "std, fine-tuning seeds"] == "not run"
    lo, hi = std_interval(0.1, 3)
    assert f"[{lo:.4f}, {hi:.4f}] (n=3)" in v.loc[("m", "sst2", "en", "his"), "std, fine-tuning seeds"]
