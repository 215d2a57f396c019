"""Does the default report answer? Reads a results folder (what `make report` wrote) and prints, per run:
the unpruned model's 95 % interval against its majority-class (or no-skill) baseline and the dev size; per
criterion the AUC [95 %], the paired AUC difference to HIS with its permutation p, and the certified
"prunable within 1 point" share. Then the counts the default is judged by: tasks whose unpruned interval clears
the baseline, tasks on which each criterion's difference from HIS is resolved (p < 0.05), tasks with a
non-zero certified prunable share. Zero-shot runs (the default's cross-lingual cell) add a table per eval language
and Ma et al.'s held-out verdict per language.

    python benchmarks/default_report.py [--results results] [--model minilm] [--csv out.csv] [--levels]
                                        [--rel-tol 0.05] [--time]

``--rel-tol 0.05`` certifies the prunable share within +5 % of the unpruned value (perplexity: the LLM-pruning
papers' reading) instead of within 1 point.

``--time`` adds where each cell's time went: its wall time (the grid's cell record) against fine-tuning, the unpruned
evaluation (with any whole-dev reference), scoring (each criterion x seed once) and the pruned evaluations.

``--levels`` adds what fewer sparsity levels cost: per run, the width of HIS's AUC interval and of the paired
AUC difference to HIS, recomputed on evenly spaced subsets of the levels the run swept (always 0 % and the
largest), from the same bootstrap replicates.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from hpbench.report.intervals import auc_table, percentile_interval, prunable_table, replicates
from hpbench.run.results import load_tables


def unpruned_rows(reps) -> pd.DataFrame:
    """Per run: the unpruned model's value and 95 % interval (reference series), its baseline, the dev size."""
    rows = []
    for r in reps:
        c = r.criteria.index("his") if "his" in r.criteria else 0
        point, rep = r.curve()
        lo, hi = percentile_interval(rep[c, 0])
        rows.append({"run_id": r.keys.get("run_id"), "task": r.keys["task"], "language": r.keys.get("language"),
                     "metric": r.metric, "n_dev": len(r.y), "seeds": len(r.seeds), "levels": len(r.sparsities),
                     "unpruned": point[c, 0], "lo": lo, "hi": hi, "baseline": r.baseline,
                     "clears": r.clears_baseline(c)})
    return pd.DataFrame(rows)


def levels_rows(reps) -> pd.DataFrame:
    """Interval widths of AUC(HIS) and of the AUC difference (other criterion - HIS) on subsets of the levels."""
    rows = []
    for r in reps:
        if "his" not in r.criteria:
            continue
        h = r.criteria.index("his")
        levels = r.ran("his")
        for k in range(2, len(levels) + 1):
            sub = sorted({levels[round(i * (len(levels) - 1) / (k - 1))] for i in range(k)})
            point, rep = r.auc(sub)
            lo, hi = percentile_interval(rep[h])
            row = {"task": r.keys["task"], "levels": len(sub), "sparsities": " ".join(f"{s:g}" for s in sub),
                   "AUC(his) width": hi - lo}
            for c, crit in enumerate(r.criteria):
                if c != h:
                    dlo, dhi = percentile_interval(rep[c] - rep[h])
                    row[f"Δ {crit} width"] = dhi - dlo
            rows.append(row)
    return pd.DataFrame(rows)


def languages(tables, reps) -> None:
    """The cross-lingual cell(s): per eval language the unpruned model, criteria vs HIS, pruning's transfer effect,
    and Ma et al.'s held-out verdicts."""
    from hpbench.claims.measures import Evidence
    from hpbench.claims.transfer import transfer_heldout
    from hpbench.report.languages import language_table

    t = language_table(reps)
    if t.empty:
        return
    print("\nZero-shot languages: unpruned [95 %] (half-width), Δ AUC vs HIS [95 %] p, HIS 30 % / 50 % vs 0 % [95 %]")
    print(t.drop(columns=["model", "train_language"]).round(4).to_string(index=False))
    print("\nma2021 (best level chosen on half of each language's dev sentences, gain measured on the other half)")
    for f in transfer_heldout(Evidence(tables, reps), "his"):
        print(f"  {f.task}: {f.measurement} -> {f.verdict}")


def time_rows(tables, results_dir: str) -> pd.DataFrame:
    """Per run: cell wall seconds and its parts, summed over what each stage really ran once."""
    walls = {}
    for f in Path(results_dir, "_cells").glob("*.json"):
        rec = json.loads(f.read_text())
        walls[rec.get("run_id")] = rec.get("seconds")
    run, res = tables["run"], tables["results"]
    rows = []
    for rid, g in res.groupby("run_id", sort=False):
        r = run[run["run_id"] == rid].drop_duplicates("seed")
        ft = r.drop_duplicates("finetune_seconds")["finetune_seconds"].fillna(0).sum()
        scored = g.drop_duplicates(["criterion", "seed"])["score_seconds"].fillna(0).sum()
        evals = g.drop_duplicates(["criterion", "seed", "sparsity"])["eval_seconds"].fillna(0).sum()
        rows.append({"run_id": rid, "cell s": walls.get(rid), "fine-tuning s": ft,
                     "unpruned eval s": r["dense_seconds"].fillna(0).sum(), "scoring s": scored,
                     "pruned evals s": evals, "evaluations": int(g["eval_seconds"].notna().sum())})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--model", default=None, help="only runs of this model (default: every run)")
    ap.add_argument("--csv", default=None, help="also write the per-criterion table here")
    ap.add_argument("--levels", action="store_true", help="interval widths on subsets of the sparsity levels")
    ap.add_argument("--time", action="store_true", help="where each cell's time went")
    ap.add_argument("--rel-tol", type=float, default=None, help="prunable within this share of the unpruned value")
    a = ap.parse_args()
    tables = load_tables(a.results)
    if a.model is not None:
        tables = {k: (v[v["model"] == a.model] if "model" in v else v) for k, v in tables.items()}
    reps = replicates(tables)
    if not reps:
        raise SystemExit(f"no runs with stored predictions under {a.results!r}: run `make report` first")
    base = unpruned_rows(reps)
    auc = auc_table(reps)
    prun = prunable_table(reps, rel_tol=a.rel_tol)[["run_id", "language", "criterion", "prunable %",
                                                    "point estimate within 1 pt (%)"]]
    if a.rel_tol is not None:
        prun = prun.rename(columns={"point estimate within 1 pt (%)": f"point estimate within {a.rel_tol:.0%} (%)"})
    crit = auc.merge(prun, on=["run_id", "language", "criterion"], how="left")
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print("Unpruned models (95 % interval) vs the majority-class / no-skill baseline")
    print(base.round(4).to_string(index=False))
    print("\nPer criterion: AUC [95 %], paired AUC difference to HIS and its permutation p, certified prunable share")
    cols = ["run_id", "task", "language", "criterion", "AUC", "AUC lo", "AUC hi", "Δ vs his", "Δ lo", "Δ hi", "p",
            "prunable %", *[c for c in crit if str(c).startswith("point estimate within")]]
    print(crit[[c for c in cols if c in crit]].round(4).to_string(index=False))
    n_tasks = len(base)  # one per run x eval language
    print(f"\nruns x languages whose unpruned interval clears the baseline: {int(base['clears'].sum())}/{n_tasks}")
    if "p" in crit:
        others = crit[crit["criterion"] != "his"]
        for c, g in others.groupby("criterion", sort=False):
            print(f"{c} vs his resolved (p < 0.05) on {int((g['p'] < 0.05).sum())}/{len(g)} runs x languages")
    nz = crit[crit["prunable %"].fillna(0) > 0]
    best = nz.sort_values("prunable %", ascending=False).drop_duplicates(["run_id", "language"])
    print(f"runs x languages with a non-zero certified prunable share: {len(best)}/{n_tasks}")
    for _, r in best.iterrows():
        print(f"  {r['task']} / {r['language']}: {int(r['prunable %'])} % by {r['criterion']}")
    languages(tables, reps)
    if a.time:
        print("\nWhere the time went, per cell (seconds; parts summed once per stage that ran)")
        print(time_rows(tables, a.results).round(1).to_string(index=False))
    if a.levels:
        print("\nInterval widths (95 %) on evenly spaced subsets of the swept levels")
        print(levels_rows(reps).round(4).to_string(index=False))
    if a.csv:
        crit.to_csv(a.csv, index=False)


if __name__ == "__main__":
    main()
