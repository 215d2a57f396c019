"""Criteria compared at equal FLOPs (the Pareto view of Kwon et al. 2022): a criterion searched under a FLOPs
budget (``kwon`` prunes FFN neurons too; its results carry ``budget = "flops"`` and its sparsity is the
share of the encoder's FLOPs removed) is never compared at equal head counts. Here each of its levels, at FLOPs
share f removed, meets every heads-only criterion *at the same f*: the heads-only curve (metric vs FLOPs share
removed, its levels' exact FLOP counts) is interpolated linearly at f between its two neighbouring levels, on every
bootstrap replicate (the same dev-example resamples and seed draws), so the difference gets a paired interval.
Heads alone remove at most the attention's share of the FLOPs: where f lies beyond a heads-only criterion's
last level, the budgeted level is compared with that last level instead (it removes more FLOPs; a difference in
its favour there means it dominates), never extrapolated. No permutation p here (interpolated predictions are not
predictions); a difference counts when its interval excludes 0.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..tasks.lookup import task_label
from .intervals import LEVEL, N_BOOT, Replicates, percentile_interval, replicates


def flops_criteria(results: pd.DataFrame) -> set[str]:
    """Criteria whose masks were searched under a FLOPs budget."""
    if "budget" not in results:
        return set()
    return set(results.loc[results["budget"] == "flops", "criterion"])


def _shares(results: pd.DataFrame, r: Replicates) -> pd.DataFrame:
    """Index (criterion, sparsity) -> shares of the encoder FLOPs, heads and FFN neurons removed (means over
    seeds) for run ``r``."""
    df = results[results["main"].astype(bool)]
    if "run_id" in r.keys and "run_id" in df:
        df = df[df["run_id"] == r.keys["run_id"]]
    return df.groupby(["criterion", "sparsity"])[["flops_pruned_share", "pruned_share", "ffn_pruned_share"]].mean()


def _at(x: np.ndarray, y: np.ndarray, f: float) -> np.ndarray | None:
    """``y`` (``[P, ...]``, rows at increasing ``x``) linearly interpolated at ``f``; None outside [x0, x_last]."""
    if len(x) == 0 or f < x[0] - 1e-12 or f > x[-1] + 1e-12:
        return None
    j = int(np.clip(np.searchsorted(x, f), 1, len(x) - 1)) if len(x) > 1 else 0
    if len(x) == 1 or x[j] == x[j - 1]:
        return y[j]
    w = (f - x[j - 1]) / (x[j] - x[j - 1])
    return (1 - w) * y[j - 1] + w * y[j]


def _series(r: Replicates, c: int, shares: pd.DataFrame, point, rep) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ps = [p for p in range(len(r.sparsities)) if not np.isnan(point[c, p]) and (r.criteria[c], r.sparsities[p]) in shares.index]
    x = np.array([shares.loc[(r.criteria[c], r.sparsities[p]), "flops_pruned_share"] for p in ps])
    o = np.argsort(x, kind="stable")
    return x[o], point[c, ps][o], rep[c, ps][o]


def _rows_of(r: Replicates, results: pd.DataFrame, budgeted: set[str], level: float) -> list[dict]:
    shares = _shares(results, r)
    point, rep = r.curve()
    rows = []
    for k, crit in enumerate(r.criteria):
        if crit not in budgeted:
            continue
        for p, s in enumerate(r.sparsities):
            if np.isnan(point[k, p]) or s == 0 or (crit, s) not in shares.index:
                continue
            sh = shares.loc[(crit, s)]
            f = float(sh["flops_pruned_share"])
            lo, hi = percentile_interval(rep[k, p], level)
            base = {**{key: r.keys[key] for key in ("run_id", "model", "task", "language") if key in r.keys},
                    "criterion": crit, "budget (% FLOPs removed)": round(100 * s, 1), "% FLOPs removed": 100 * f,
                    "% heads pruned": 100 * float(sh["pruned_share"]), "% FFN neurons pruned": 100 * float(sh["ffn_pruned_share"]),
                    "metric": r.metric, "value": point[k, p], "lo": lo, "hi": hi}
            rows += [{**base, "versus": other, **_versus(r, k, p, c, f, shares, point, rep, level)}
                     for c, other in enumerate(r.criteria) if other not in budgeted]
    return rows


def _versus(r: Replicates, k: int, p: int, c: int, f: float, shares, point, rep, level: float) -> dict:
    """Criterion ``c`` against the budgeted level (k, p) removing FLOPs share ``f``: interpolated at ``f`` where its
    curve reaches it ("same FLOPs"), else at its furthest level ("fewer FLOPs": the budgeted model removes more and
    is compared with the cheapest model heads alone give). Paired on the same resamples."""
    x, y, yr = _series(r, c, shares, point, rep)
    v, vr = _at(x, y, f), _at(x, yr, f)
    at, how = f, "same FLOPs"
    if v is None:
        if len(x) == 0 or f < x[0]:
            return {"versus at % FLOPs removed": np.nan, "compared at": "not run", "versus value": np.nan,
                    "Δ": np.nan, "Δ lo": np.nan, "Δ hi": np.nan, "reading": "not run"}
        v, vr, at, how = y[-1], yr[-1], float(x[-1]), "fewer FLOPs (heads alone reach no further)"
    d, (dlo, dhi) = point[k, p] - v, percentile_interval(rep[k, p] - vr, level)
    return {"versus at % FLOPs removed": 100 * at, "compared at": how, "versus value": float(v), "Δ": float(d),
            "Δ lo": float(dlo), "Δ hi": float(dhi), "reading": r.direction.reading(float(d), bool(dlo > 0 or dhi < 0))}


def budgeted_replicates(tables: dict[str, pd.DataFrame], *, n_boot: int = N_BOOT) -> list[Replicates]:
    """Bootstrap replicates, every criterion included, of the runs where a criterion ran under a FLOPs budget."""
    res, preds = tables.get("results"), tables.get("predictions")
    budgeted = flops_criteria(res) if res is not None else set()
    if not budgeted or preds is None or preds.empty:
        return []
    if "run_id" in preds and "run_id" in res:
        runs = set(res.loc[res["criterion"].isin(budgeted), "run_id"])
        tables = {**tables, "predictions": preds[preds["run_id"].isin(runs)]}
    return replicates(tables, n_boot=n_boot, budget=None)


def equal_flops_table(tables: dict[str, pd.DataFrame], *, level: float = LEVEL, n_boot: int = N_BOOT,
                      reps: list[Replicates] | None = None) -> pd.DataFrame:
    """One row per (run, eval language, FLOPs-budgeted criterion, level, heads-only criterion): the budgeted
    criterion's metric [interval] at its FLOPs share removed, the other's interpolated at the same share, the
    paired difference [interval] and its reading (module docstring). Empty when no criterion ran under a FLOPs
    budget. ``reps``: :func:`budgeted_replicates` of ``tables`` when already computed."""
    res = tables.get("results")
    budgeted = flops_criteria(res) if res is not None else set()
    if not budgeted:
        return pd.DataFrame()
    rows = []
    for r in budgeted_replicates(tables, n_boot=n_boot) if reps is None else reps:
        if budgeted & set(r.criteria):
            rows += _rows_of(r, res, budgeted, level)
    return pd.DataFrame(rows)


def equal_flops_view(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`equal_flops_table` for reading: one row per budgeted level (its FLOPs, heads and neurons removed, its
    metric [interval]), one column per heads-only criterion: Δ at the same FLOPs [paired interval] and its reading,
    or, beyond its reach, Δ against its furthest level (named)."""
    if table.empty:
        return table
    keys = [k for k in ("run_id", "task", "language") if k in table] + ["criterion", "% FLOPs removed"]
    rows = []
    for kv, g in table.groupby(keys, sort=False):
        first = g.iloc[0]
        row = {"task": first["task"], "criterion": first["criterion"],
               "% FLOPs removed": round(first["% FLOPs removed"], 1), "% heads pruned": round(first["% heads pruned"], 1),
               "% FFN neurons pruned": round(first["% FFN neurons pruned"], 1),
               first["metric"]: f"{first['value']:.3f} [{first['lo']:.3f}, {first['hi']:.3f}]"}
        for _, r in g.iterrows():
            far = "" if r["compared at"] == "same FLOPs" else f"; {r['versus']} at its furthest, {r['versus at % FLOPs removed']:.1f} %"
            row[f"Δ vs {r['versus']}"] = ("not run" if pd.isna(r["Δ"]) else
                                          f"{r['Δ']:+.3f} [{r['Δ lo']:+.3f}, {r['Δ hi']:+.3f}] {r['reading']}{far}")
        rows.append(row)
    return pd.DataFrame(rows)


def equal_flops_figure(results: pd.DataFrame, reps_all: list[Replicates]):
    """Main metric vs % of the encoder's FLOPs removed, one panel per task whose run has a FLOPs-budgeted criterion,
    every criterion with its 95 % band (``reps_all``: :func:`budgeted_replicates`): heads-only lines stop where
    pruning heads alone stops."""
    import seaborn as sns

    from .figures import criterion_palette, metric_label
    from .intervals import curve_table

    ct = curve_table([r for r in reps_all if r.keys.get("train_language", r.keys.get("language")) == r.keys.get("language")
                      and flops_criteria(results) & set(r.criteria)], paired=False)
    res = results[results["main"].astype(bool)]
    keys = [k for k in ("run_id", "task", "criterion", "sparsity") if k in ct and k in res]
    share = res.groupby(keys)["flops_pruned_share"].mean().rename("% FLOPs removed").reset_index()
    ct = ct.merge(share, on=keys)
    ct["% FLOPs removed"] *= 100
    palette = criterion_palette(ct["criterion"])
    g = sns.relplot(data=ct, x="% FLOPs removed", y="value", hue="criterion", col="task", kind="line", marker="o",
                    palette=palette, errorbar=None, height=3.0, aspect=1.25, facet_kws={"sharey": False},
                    col_wrap=min(4, ct["task"].nunique()))
    for task, ax in g.axes_dict.items():
        sub = ct[ct["task"] == task]
        for crit, c in sub.groupby("criterion"):
            c = c.sort_values("% FLOPs removed")
            ax.fill_between(c["% FLOPs removed"], c["lo"], c["hi"], color=palette[crit], alpha=0.12, lw=0)
        ax.set_ylabel(metric_label(sub["metric"].iloc[0]) if len(sub) else "dev metric")
        ax.set_title(task_label(task))
    return g.figure


def flops_findings(table: pd.DataFrame, reference: str = "his") -> str:
    """One Findings bullet per run with a FLOPs-budgeted criterion: at each of its levels heads-only pruning reaches,
    its metric and the paired difference to ``reference`` at the same FLOPs; then the levels beyond, each against
    ``reference``'s furthest level. "" when the table is empty or ``reference`` did not run."""
    if table.empty or reference not in set(table["versus"]):
        return ""
    keys = [k for k in ("run_id", "model", "task", "language") if k in table]
    out = []
    for kv, g in table[table["versus"] == reference].groupby(keys, sort=False):
        kd = dict(zip(keys, kv if isinstance(kv, tuple) else (kv,)))
        for crit, gc in g.groupby("criterion", sort=False):
            near, far = gc[gc["compared at"] == "same FLOPs"], gc[gc["compared at"].str.startswith("fewer")]
            what = lambda r: (f"{r['% FLOPs removed']:.0f} % of FLOPs removed ({r['% heads pruned']:.0f} % of heads, "  # noqa: E731
                              f"{r['% FFN neurons pruned']:.0f} % of FFN neurons): {r['value']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]")
            delta = lambda r: f"{r['Δ']:+.3f} [{r['Δ lo']:+.3f}, {r['Δ hi']:+.3f}] ({r['reading']})"  # noqa: E731
            text = "".join(["at " + "; ".join(f"{what(r)}, Δ vs {reference} at the same FLOPs {delta(r)}"
                                              for _, r in near.iterrows()) + ". " if len(near) else ""])
            if len(far):
                reach = far["versus at % FLOPs removed"].iloc[0]
                text += (f"Beyond the {reach:.1f} % of FLOPs {reference} removes by pruning heads alone, compared with "
                         f"{reference} there: " + "; ".join(f"{what(r)}, Δ {delta(r)}" for _, r in far.iterrows()) + ".")
            name = " / ".join(str(kd[k]) for k in ("model", "task", "language") if k in kd)
            out.append(f"* **At equal FLOPs, {name}**: `{crit}` (heads and FFN neurons under a FLOPs budget) {text.strip()}")
    return "\n".join(out)
