"""Criteria compared at equal FLOPs (the Pareto view of Kwon et al. 2022): a criterion searched under a FLOPs
budget (``kwon:ffn=true`` prunes FFN neurons too; its results carry ``budget = "flops"`` and its sparsity is the
share of the encoder's FLOPs removed) is never compared at equal head counts. Here each of its levels, at FLOPs
share f removed, meets every heads-only criterion *at the same f*: the heads-only curve (metric vs FLOPs share
removed, its levels' exact FLOP counts) is interpolated linearly at f between its two neighbouring levels, on every
bootstrap replicate (the same dev-example resamples and seed draws), so the difference gets a paired interval.
Heads alone remove at most the attention's share of the FLOPs: where f lies beyond a heads-only criterion's
last level, the row says so instead of extrapolating. No permutation p here (interpolated predictions are not
predictions); a difference counts when its interval excludes 0.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

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
            for c, other in enumerate(r.criteria):
                if other in budgeted:
                    continue
                x, y, yr = _series(r, c, shares, point, rep)
                v, vr = _at(x, y, f), _at(x, yr, f)
                if v is None:
                    rows.append({**base, "versus": other, "versus value": np.nan, "Δ": np.nan, "Δ lo": np.nan,
                                 "Δ hi": np.nan, "reading": f"out of reach: heads alone remove at most "
                                                            f"{100 * x.max():.1f} % of the FLOPs here"})
                    continue
                d, (dlo, dhi) = point[k, p] - v, percentile_interval(rep[k, p] - vr, level)
                sig = bool(dlo > 0 or dhi < 0)
                rows.append({**base, "versus": other, "versus value": float(v), "Δ": float(d), "Δ lo": float(dlo),
                             "Δ hi": float(dhi), "reading": r.direction.reading(float(d), sig)})
    return rows


def equal_flops_table(tables: dict[str, pd.DataFrame], *, level: float = LEVEL, n_boot: int = N_BOOT) -> pd.DataFrame:
    """One row per (run, eval language, FLOPs-budgeted criterion, level, heads-only criterion): the budgeted
    criterion's metric [interval] at its FLOPs share removed, the other's interpolated at the same share, the
    paired difference [interval] and its reading (module docstring). Empty when no criterion ran under a FLOPs
    budget."""
    res = tables.get("results")
    budgeted = flops_criteria(res) if res is not None else set()
    if not budgeted:
        return pd.DataFrame()
    rows = []
    for r in replicates(tables, n_boot=n_boot, budget=None):
        if budgeted & set(r.criteria):
            rows += _rows_of(r, res, budgeted, level)
    return pd.DataFrame(rows)


def equal_flops_view(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`equal_flops_table` for reading: one row per budgeted level and heads-only criterion, values with
    their intervals as text."""
    if table.empty:
        return table
    iv = lambda v, lo, hi: "" if pd.isna(v) else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"  # noqa: E731
    sv = lambda v, lo, hi: "" if pd.isna(v) else f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]"  # noqa: E731
    out = pd.DataFrame({
        "task": table["task"], "criterion": table["criterion"],
        "% FLOPs removed": table["% FLOPs removed"].round(1), "% heads pruned": table["% heads pruned"].round(1),
        "% FFN neurons pruned": table["% FFN neurons pruned"].round(1),
        "metric": [f"{m} {iv(v, lo, hi)}" for m, v, lo, hi in zip(table["metric"], table["value"], table["lo"], table["hi"])],
        "heads-only criterion": table["versus"],
        "its metric at these FLOPs": [("" if pd.isna(v) else f"{v:.3f}") for v in table["versus value"]],
        "Δ [95 %]": [sv(d, lo, hi) for d, lo, hi in zip(table["Δ"], table["Δ lo"], table["Δ hi"])],
        "reading": table["reading"]})
    return out.reset_index(drop=True)


def flops_findings(table: pd.DataFrame, reference: str = "his") -> str:
    """One Findings bullet per run with a FLOPs-budgeted criterion: at each of its levels, its metric and the paired
    difference to ``reference`` at the same FLOPs (or that heads alone cannot remove that many FLOPs). "" when
    the table is empty or ``reference`` did not run."""
    if table.empty or reference not in set(table["versus"]):
        return ""
    keys = [k for k in ("run_id", "model", "task", "language") if k in table]
    out = []
    for kv, g in table[table["versus"] == reference].groupby(keys, sort=False):
        kd = dict(zip(keys, kv if isinstance(kv, tuple) else (kv,)))
        for crit, gc in g.groupby("criterion", sort=False):
            parts = []
            for _, row in gc.iterrows():
                at = (f"{row['% FLOPs removed']:.0f} % of FLOPs removed ({row['% heads pruned']:.0f} % of heads, "
                      f"{row['% FFN neurons pruned']:.0f} % of FFN neurons): {row['value']:.3f} [{row['lo']:.3f}, {row['hi']:.3f}]")
                if pd.isna(row["Δ"]):
                    parts.append(f"{at}, beyond what pruning heads alone reaches")
                else:
                    parts.append(f"{at}, Δ vs {reference} at the same FLOPs {row['Δ']:+.3f} "
                                 f"[{row['Δ lo']:+.3f}, {row['Δ hi']:+.3f}] ({row['reading']})")
            name = " / ".join(str(kd[k]) for k in ("model", "task", "language") if k in kd)
            out.append(f"* **At equal FLOPs, {name}**: `{crit}` (heads and FFN neurons under a FLOPs budget) at "
                       + "; ".join(parts) + ".")
    return "\n".join(out)
