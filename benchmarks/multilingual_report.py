"""Does the multilingual report answer? Reads a results folder (what `make report-multilingual` wrote) and prints a
Markdown table per task x language: the unpruned model, HIS and random at one level (default 50 %), each with its
95 % interval (bootstrap over the language's dev items and the scoring seeds) and whether the unpruned interval clears
the task's baseline; then Ma et al.'s held-out verdict per task x language for both protocols (heads scored on
English, heads scored on the target language), and the agreement of English- and target-scored heads (Spearman of the
HIS scores with an interval over heads, Jaccard of the heads each prunes at 50 %).

    python benchmarks/multilingual_report.py [--results results] [--level 0.5]
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from hpbench.claims.measures import Evidence
from hpbench.claims.transfer import transfer_heldout
from hpbench.report.intervals import curve_table, replicates
from hpbench.report.languages import rank_agreement, scored_on
from hpbench.run.results import load_tables


def level_table(reps, level: float) -> pd.DataFrame:
    """task x language rows (English-scored runs): unpruned, HIS and random at ``level`` as "v [lo, hi]"."""
    reps = [r for r in reps if scored_on(r.keys) == r.keys.get("train_language")]
    ct = curve_table(reps, paired=False)
    cell = lambda g: f"{g['value'].iloc[0]:.3f} [{g['lo'].iloc[0]:.3f}, {g['hi'].iloc[0]:.3f}]" if len(g) else ""  # noqa: E731
    rows = []
    for r in reps:
        k = ct[(ct["run_id"] == r.keys["run_id"]) & (ct["language"] == r.keys["language"])]
        c0 = r.criteria.index("his") if "his" in r.criteria else 0
        rows.append({"task": r.keys["task"], "language": r.keys["language"], "n": len(r.y), "metric": r.metric,
                     "baseline": r.baseline, "clears": r.clears_baseline(c0),
                     "unpruned": cell(k[(k["criterion"] == r.criteria[c0]) & (k["sparsity"] == 0)]),
                     **{f"{c} {100 * level:.0f} %": cell(k[(k["criterion"] == c) & np.isclose(k["sparsity"], level)])
                        for c in ("his", "random")}})
    return pd.DataFrame(rows).sort_values(["task", "language"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--level", type=float, default=0.5)
    a = ap.parse_args()
    tables = load_tables(a.results)
    reps = replicates(tables)
    if not reps:
        raise SystemExit(f"no runs with stored predictions under {a.results!r}: run `make report-multilingual` first")
    t = level_table(reps, a.level)
    print(t.to_markdown(index=False))
    print(f"\n{int(t['clears'].sum())}/{len(t)} task x language unpruned intervals clear their baseline")
    print("\nma2021 (level chosen on one half of each language's dev items, gain measured on the other half)")
    for f in transfer_heldout(Evidence(tables, reps), "his"):
        print(f"  {f.task}: {f.measurement} -> {f.verdict}")
    agree = rank_agreement(tables.get("scores", pd.DataFrame()))
    if len(agree):
        print("\nHeads scored on each language vs on English (HIS unless stated)")
        print(agree.round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
