"""What each recovery adds (hpbench.run.recover): runs that differ only in ``recovery`` are paired on the same dev
examples. Their predictions are joined into one pseudo-run per setting, each recovered series labelled
``"<criterion> | <recovery>"``, so the AUC difference to the same criterion without recovery gets the paired
bootstrap interval and permutation p of :mod:`hpbench.report.intervals` (the unpruned 0 % point is shared)."""
from __future__ import annotations

import re

import pandas as pd

from .intervals import LEVEL, N_BOOT, auc_table, replicates

_SUFFIX = re.compile(r"-rec-[A-Za-z0-9_]+$")


def _joined(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame] | None:
    run = tables.get("run")
    if run is None or run.empty or "recovery" not in run or run["recovery"].fillna("none").nunique() < 2:
        return None
    rec = run.drop_duplicates("run_id").set_index("run_id")["recovery"].fillna("none")
    out = {}
    for name in ("results", "predictions", "run"):
        df = tables[name].copy()
        r = df["run_id"].map(rec).fillna("none")
        if name != "run":
            df["criterion"] = [c if x == "none" else f"{c} | {x}" for c, x in zip(df["criterion"], r)]
        df["run_id"] = df["run_id"].str.replace(_SUFFIX, "", regex=True)
        out[name] = df if name != "run" else df[r == "none"]
    return out


def recovery_table(tables: dict[str, pd.DataFrame], *, level: float = LEVEL, n_boot: int = N_BOOT) -> pd.DataFrame:
    """One row per (run, eval language, criterion, recovery): AUC without and with the recovery, the paired
    difference [interval] and p. Empty when no run of the tables has a recovery."""
    joined = _joined(tables)
    if joined is None:
        return pd.DataFrame()
    reps = replicates(joined, n_boot=n_boot)
    rows = []
    for r in reps:
        for base in [c for c in r.criteria if " | " not in c]:
            t = auc_table([r], reference=base, level=level)
            ref = t[t["criterion"] == base]
            for _, row in t[t["criterion"].str.startswith(base + " | ")].iterrows():
                rows.append({**{k: row[k] for k in ("run_id", "model", "task", "language") if k in row},
                             "criterion": base, "recovery": row["criterion"].split(" | ", 1)[1],
                             "AUC none": float(ref["AUC"].iloc[0]), "AUC recovered": row["AUC"],
                             "Δ": row[f"Δ vs {base}"], "Δ lo": row["Δ lo"], "Δ hi": row["Δ hi"], "p": row["p"],
                             "reading": row[f"vs {base}"]})
    return pd.DataFrame(rows)
