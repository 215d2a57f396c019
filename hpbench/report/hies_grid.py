"""HIES explored: alpha x entropy sign x normalisation of ``hies_recon`` (hpbench's abstract-only reconstruction of
HIES; the paper's own definition is ``hies``), each setting's AUC and stability relative to HIS.

``make report PRESET=hies_grid`` adds the 20 settings (:func:`grid_specs`) to the default GLUE cells;
the comparison report then shows two heat maps per task (AUC difference to HIS with its paired
permutation test, and stability relative to HIS) and names the best setting per task.
"""
from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..tasks.metrics import direction

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
SIGNS = (-1, 1)
NORMS = ("global", "layer")


def grid_specs(alphas=ALPHAS, signs=SIGNS, norms=NORMS) -> list[str]:
    """Criterion specs of every setting, e.g. ``"hies_recon:alpha=0.25,entropy_sign=-1,norm=layer"``."""
    return [f"hies_recon:alpha={a},entropy_sign={s},norm={n}" for a, s, n in itertools.product(alphas, signs, norms)]


def hies_setting(spec: str) -> dict | None:
    """(alpha, entropy_sign, norm) of a ``hies_recon`` spec with its defaults filled in; None for other criteria."""
    from ..criteria.base import parse_spec

    if not spec.split(":")[0] == "hies_recon":
        return None
    crit, params = parse_spec(spec)
    return {**crit.params, **params}


def is_grid_variant(spec: str) -> bool:
    """A parameterised ``hies_recon`` spec (shown in the grid's heat maps rather than among the main curves)."""
    return spec.startswith("hies_recon:")


def has_variants(tables: dict[str, pd.DataFrame]) -> bool:
    """Whether ``tables`` hold any of the grid's parameterised ``hies_recon`` rows."""
    res = tables.get("results")
    return res is not None and len(res) > 0 and bool(res["criterion"].map(is_grid_variant).any())


def main_criteria(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``tables`` without the grid's parameterised HIES rows (what the main curves and tables show)."""
    return {k: (df[~df["criterion"].map(is_grid_variant)] if "criterion" in df and len(df) else df) for k, df in tables.items()}


def grid_table(reps, results: pd.DataFrame, run: pd.DataFrame, reference: str = "his") -> pd.DataFrame:
    """One row per (run, eval language, HIES setting): AUC, difference to ``reference`` with its 95 % interval
    and permutation p, and stability (std across seeds) relative to ``reference`` with its interval."""
    from .intervals import auc_table
    from .stability import ratio_interval, seed_spread

    auc = auc_table(reps, reference=reference)
    if auc.empty:
        return auc
    auc = auc[auc["criterion"].map(lambda c: hies_setting(c) is not None)].copy()
    variants = results["criterion"].map(lambda c: hies_setting(c) is not None)
    levels = results.loc[variants, "sparsity"].unique()
    spread = seed_spread(results[results["sparsity"].isin(levels)], run)  # HIS's spread on the grid's sparsities
    learned = {(r.keys["model"], r.keys["task"]): r.clears_baseline(0) for r in reps}  # 0 %: one model for all
    rows = []
    for _, r in auc.iterrows():
        st = hies_setting(r["criterion"])
        row = {"model": r["model"], "task": r["task"], "metric": r.get("metric", "accuracy"), "alpha": float(st["alpha"]), "entropy_sign": int(st["entropy_sign"]),
               "norm": st["norm"], "criterion": r["criterion"], "AUC": r["AUC"], "Δ AUC": r.get(f"Δ vs {reference}"),
               "Δ lo": r.get("Δ lo"), "Δ hi": r.get("Δ hi"), "p": r.get("p"), "significant": r.get("significant"),
               "unpruned beats baseline": learned.get((r["model"], r["task"]))}
        if len(spread):
            s = spread[(spread["task"] == r["task"]) & (spread["model"] == r["model"])]
            a, b = s[s["criterion"] == reference], s[s["criterion"] == r["criterion"]]
            if len(a) and len(b):
                ratio, lo, hi = ratio_interval(float(a["std"].iloc[0]), float(b["std"].iloc[0]), int(a["n"].iloc[0]), int(b["n"].iloc[0]))
                row.update({"stability vs HIS": ratio, "stability lo": lo, "stability hi": hi,
                            "seeds vary": b["seeds vary"].iloc[0]})
        rows.append(row)
    # the same setting may appear as "hies_recon" and as its explicit spec: keep one
    return pd.DataFrame(rows).drop_duplicates(["model", "task", "alpha", "entropy_sign", "norm"])


def _signs(grid: pd.DataFrame) -> pd.Series:
    """+1 per row whose metric is higher-is-better, -1 where lower is."""
    metric = grid["metric"] if "metric" in grid else pd.Series("accuracy", index=grid.index)
    return metric.fillna("accuracy").map(lambda m: direction(m).sign)


def best_settings(grid: pd.DataFrame) -> pd.DataFrame:
    """Per (model, task): the setting with the best AUC (largest; smallest for a lower-is-better metric), its difference to HIS and whether it beats HIS
    significantly: p < 0.05 both as measured and after a Bonferroni correction for the settings searched
    (the best of 20 is picked after seeing the results), on a task whose unpruned model beats the baseline."""
    if grid.empty:
        return grid
    sign = _signs(grid)  # perplexity: lower AUC is better
    best = grid.loc[(sign * grid["AUC"]).groupby([grid["model"], grid["task"]]).idxmax()].copy()
    n = grid.groupby(["model", "task"])["criterion"].nunique()
    best["p × settings (Bonferroni)"] = [min(1.0, p * n[(m, t)]) for m, t, p in zip(best["model"], best["task"], best["p"])]
    cols = ["model", "task", "alpha", "entropy_sign", "norm", "AUC", "Δ AUC", "Δ lo", "Δ hi", "p", "p × settings (Bonferroni)",
            "unpruned beats baseline"]
    out = best[[c for c in cols if c in best]].copy()
    better = _signs(best) * out["Δ AUC"] > 0
    win = better & (out["p × settings (Bonferroni)"] < 0.05) & out["unpruned beats baseline"].fillna(True).astype(bool)
    out["beats HIS significantly"] = win.map({True: "yes", False: "no"})
    return out.set_index(["model", "task"]).round(4)


def heatmaps(grid: pd.DataFrame):
    """Per task: AUC difference to HIS (``*`` = paired permutation p < 0.05) and stability relative to HIS
    (> 1 = more stable), rows entropy sign x normalisation, columns alpha."""
    tasks = list(dict.fromkeys(grid["task"]))
    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 2.4 * len(tasks) + 0.6), squeeze=False)
    for i, task in enumerate(tasks):
        g = grid[grid["task"] == task].copy()
        g["setting"] = g["entropy_sign"].map({-1: "sign −1", 1: "sign +1"}) + ", " + g["norm"]
        d = g.pivot(index="setting", columns="alpha", values="Δ AUC")
        star = g.pivot(index="setting", columns="alpha", values="significant").reindex_like(d)
        annot = d.map(lambda v: f"{v:+.3f}") + star.map(lambda s: "*" if s is True else "")
        lim = float(np.nanmax(np.abs(d.to_numpy()))) or 0.01
        sns.heatmap(d, annot=annot, fmt="", cmap="RdBu", center=0, vmin=-lim, vmax=lim, ax=axes[i][0], cbar=True)
        axes[i][0].set_title(f"{task}: AUC − AUC(HIS)")
        if "stability vs HIS" in g:
            s = g.pivot(index="setting", columns="alpha", values="stability vs HIS")
            sns.heatmap(np.log2(s.astype(float)), annot=s.map(lambda v: f"{v:.2f}×"), fmt="", cmap="PiYG", center=0,
                        ax=axes[i][1], cbar=True)
            axes[i][1].set_title(f"{task}: std(HIS) / std (log2 colour)")
        else:
            axes[i][1].set_axis_off()
    fig.tight_layout()
    return fig
