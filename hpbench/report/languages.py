"""The language axis of a comparison: per (model, task, training language) one row per evaluation language with the
unpruned model's metric and interval, each criterion's AUC against HIS (paired interval, p) and the transfer effect of
pruning at chosen levels (paired Δ vs the unpruned model on the same examples); and how much the heads chosen on
different languages agree (rank correlation with a bootstrap interval over heads, Jaccard of the pruned sets).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .intervals import LEVEL, Replicates, auc_table, delta_table, percentile_interval


def zero_shot_keys(reps: list[Replicates]) -> set[tuple]:
    """(model, task, train_language) of runs evaluated on at least one language other than their training one."""
    return {(r.keys.get("model"), r.keys["task"], r.keys.get("train_language")) for r in reps
            if r.keys.get("train_language") not in (None, r.keys.get("language"))}


def scored_on(keys: dict) -> str:
    """The language a run's heads were scored on: ``-scored-<lang>`` in its run id, else its training language."""
    rid = str(keys.get("run_id", ""))
    return rid.rsplit("-scored-", 1)[1] if "-scored-" in rid else str(keys.get("train_language") or keys.get("language"))


def _cell(v: float, lo: float, hi: float, p: float | None = None) -> str:
    s = f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    return s + (f" p={p:.3f}" if p is not None and p == p else "")


def language_table(reps: list[Replicates], *, reference: str = "his", levels=None) -> pd.DataFrame:
    """One row per (model, task, train language, eval language) of the zero-shot runs: n examples, the unpruned
    model [95 %] and its half-width, the baseline, ``Δ AUC <criterion> vs <reference>`` (paired interval, p) and
    ``<reference> <level> vs 0 %`` (the transfer effect of pruning, paired interval) at ``levels`` (None: the
    reference's pruned levels among 20, 30 and 50 %, else its first three)."""
    keys = zero_shot_keys(reps)
    reps = [r for r in reps if (r.keys.get("model"), r.keys["task"], r.keys.get("train_language")) in keys]
    if not reps:
        return pd.DataFrame()
    auc, delta = auc_table(reps, reference=reference), delta_table(reps)
    rows = []
    for r in reps:
        k = {**{c: r.keys.get(c) for c in ("model", "task", "train_language", "language")}, "heads scored on": scored_on(r.keys)}
        point, rep = r.curve()
        c0 = r.criteria.index(reference) if reference in r.criteria else 0
        lo, hi = percentile_interval(rep[c0, 0], LEVEL)
        row = {**k, "n": len(r.y), "metric": r.metric, "unpruned": point[c0, 0], "lo": float(lo), "hi": float(hi),
               "± (half-width)": float(hi - lo) / 2, "baseline": r.baseline}
        a = auc[(auc["run_id"] == r.keys["run_id"]) & (auc["language"] == r.keys["language"])] if "run_id" in auc else \
            auc[auc["language"] == r.keys["language"]]
        for _, x in a.iterrows():
            if x["criterion"] != reference and x.get(f"Δ vs {reference}") == x.get(f"Δ vs {reference}"):
                row[f"Δ AUC {x['criterion']} vs {reference}"] = _cell(x[f"Δ vs {reference}"], x["Δ lo"], x["Δ hi"], x.get("p"))
        d = delta[(delta["criterion"] == reference) & (delta["language"] == r.keys["language"])
                  & ((delta["run_id"] == r.keys["run_id"]) if "run_id" in delta else True)]
        ran = sorted(d["sparsity"].unique())
        for s in levels or ([x for x in ran if any(np.isclose(x, (0.2, 0.3, 0.5)))] or ran[:3]):
            m = d[np.isclose(d["sparsity"], s)]
            if len(m):
                row[f"{reference} {int(round(100 * s))} % vs 0 %"] = _cell(*m[["delta", "lo", "hi"]].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["model", "task", "train_language", "language", "heads scored on"]
                                          ).reset_index(drop=True)


def rank_agreement(scores: pd.DataFrame, *, reference: str = "en", sparsity: float = 0.5, n_boot: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """Per (model, task, criterion) and scoring language other than ``reference``: Spearman's rank correlation of
    the head scores (mean over seeds) with those scored on ``reference``, a 95 % interval from resampling heads
    with replacement, and the Jaccard overlap of the ``sparsity`` lowest-scored heads (the pruned sets)."""
    from scipy.stats import spearmanr

    if scores.empty or "score_language" not in scores or scores["score_language"].nunique() < 2:
        return pd.DataFrame()
    rows = []
    rng = np.random.default_rng(seed)
    mean = scores.groupby(["model", "task", "criterion", "score_language", "layer", "head"])["score"].mean()
    for (m, t, c), g in mean.groupby(level=["model", "task", "criterion"]):
        by = g.droplevel(["model", "task", "criterion"]).unstack("score_language")
        if reference not in by or str(c).split(":")[0] == "random":  # random scores do not read the data
            continue
        for lang in [x for x in by.columns if x != reference]:
            pair = by[[reference, lang]].dropna().to_numpy()
            n = len(pair)
            rho = spearmanr(pair[:, 0], pair[:, 1]).statistic
            idx = rng.integers(0, n, size=(n_boot, n))
            boot = [spearmanr(pair[i, 0], pair[i, 1]).statistic for i in idx]
            lo, hi = percentile_interval(np.asarray(boot), LEVEL)
            k = int(round(sparsity * n))
            a, b = set(np.argsort(pair[:, 0], kind="stable")[:k]), set(np.argsort(pair[:, 1], kind="stable")[:k])
            rows.append({"model": m, "task": t, "criterion": c, "language": lang, "heads": n, "rank correlation": rho,
                         "lo": float(lo), "hi": float(hi), f"Jaccard of pruned at {int(round(100 * sparsity))} %":
                         len(a & b) / len(a | b) if a | b else float("nan")})
    return pd.DataFrame(rows)
