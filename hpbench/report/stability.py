"""Stability as the papers mean it: the spread of the metric across seeds, by what the seeds vary.

* ``scoring subsets``: one fine-tuned model; the seeds vary the scoring examples (and random masks);
* ``fine-tuning seeds``: one fine-tuned model per seed (``finetune_per_seed=True``, run ids ``-ftseeds``),
  the spread HIES and Michel et al. report across training runs.

Per (run, criterion, sparsity) the std across seeds s has a 95 % interval from the chi-square
distribution with n - 1 degrees of freedom (normal metric values assumed):
``[s sqrt((n-1)/chi2_{0.975}), s sqrt((n-1)/chi2_{0.025})]``. A criterion's stability relative to a
reference is ``std_ref / std_crit`` (> 1: more stable than the reference; HIES claims 2.04x over HIS),
with the F-distribution interval of a variance ratio (both with n - 1 degrees of freedom; the seeds are
shared, so this treats paired spreads as independent: conservative in practice).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SEED_KINDS = {False: "scoring subsets", True: "fine-tuning seeds"}


def std_interval(s: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Chi-square interval of a standard deviation ``s`` from ``n`` values (nan for n < 2)."""
    from scipy.stats import chi2

    if n < 2 or s != s:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(s * np.sqrt((n - 1) / chi2.ppf(1 - a, n - 1))), float(s * np.sqrt((n - 1) / chi2.ppf(a, n - 1)))


def ratio_interval(s_ref: float, s: float, n_ref: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """(s_ref / s, lower, upper): F interval of the ratio of two standard deviations."""
    from scipy.stats import f

    if n < 2 or n_ref < 2 or not s > 0:
        return float("nan"), float("nan"), float("nan")
    r, a = s_ref / s, (1 - level) / 2
    return float(r), float(r / np.sqrt(f.ppf(1 - a, n_ref - 1, n - 1))), float(r / np.sqrt(f.ppf(a, n_ref - 1, n - 1)))


def _seed_kind(results: pd.DataFrame, run: pd.DataFrame) -> pd.Series:
    if "run_id" in results and "run_id" in run and "finetune_per_seed" in run:
        per_run = run.groupby("run_id")["finetune_per_seed"].first().astype(bool)
        return results["run_id"].map(per_run).map(SEED_KINDS)
    flag = bool(run["finetune_per_seed"].iloc[0]) if "finetune_per_seed" in run and len(run) else False
    return pd.Series(SEED_KINDS[flag], index=results.index)


def seed_spread(results: pd.DataFrame, run: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, task, criterion, seed kind): the std of the main metric across seeds, averaged over
    the pruned sparsities (> 0; at 0 % every criterion is the same model), with its interval and n seeds
    (criteria run with one seed have no row)."""
    df = results[results["main"].astype(bool) & (results["sparsity"] > 0)].copy()
    if "budget" in df:  # criteria under a FLOPs budget: their levels are not shares of heads (hpbench.report.flops)
        df = df[df["budget"].fillna("heads") != "flops"]
    if df.empty:
        return pd.DataFrame()
    df["seeds vary"] = _seed_kind(df, run)
    keys = ["model", "task", "language", "criterion", "seeds vary"]
    per = df.groupby(keys + ["sparsity"]).agg(std=("value", lambda v: v.std(ddof=1)), n=("seed", "nunique")).reset_index()
    per = per[per["n"] >= 2]  # one seed has no spread (search methods run with one seed)
    if per.empty:
        return pd.DataFrame()
    out = per.groupby(keys).agg(std=("std", lambda v: float(np.sqrt(np.mean(np.square(v))))), n=("n", "min")).reset_index()
    ci = [std_interval(s, n) for s, n in zip(out["std"], out["n"])]
    out["std lo"], out["std hi"] = [c[0] for c in ci], [c[1] for c in ci]
    return out


def stability_view(results: pd.DataFrame, run: pd.DataFrame, reference: str = "his") -> pd.DataFrame:
    """Side by side per (model, task, criterion): std across scoring subsets and across fine-tuning seeds (RMS over
    pruned sparsities, 95 % interval), and each relative to ``reference`` (std_ref / std; > 1 = more stable)."""
    sp = seed_spread(results, run)
    if sp.empty:
        return sp
    rows = []
    for (m, t, lang, crit), g in sp.groupby(["model", "task", "language", "criterion"]):
        row = {"model": m, "task": t, "language": lang, "criterion": crit}
        for kind in SEED_KINDS.values():
            k = g[g["seeds vary"] == kind]
            ref = sp[(sp["model"] == m) & (sp["task"] == t) & (sp["language"] == lang) & (sp["criterion"] == reference)
                     & (sp["seeds vary"] == kind)]
            if k.empty:
                row[f"std, {kind}"] = "not run"
                continue
            s, n, lo, hi = k[["std", "n", "std lo", "std hi"]].iloc[0]
            row[f"std, {kind}"] = f"{s:.4f} [{lo:.4f}, {hi:.4f}] (n={int(n)})"
            if len(ref) and crit != reference:
                r, rlo, rhi = ratio_interval(float(ref["std"].iloc[0]), float(s), int(ref["n"].iloc[0]), int(n))
                row[f"{reference} std / std, {kind}"] = f"{r:.2f} [{rlo:.2f}, {rhi:.2f}]"
        rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "task", "language", "criterion"]).fillna("")
