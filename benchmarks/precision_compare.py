"""Do the report's conclusions depend on the precision? Compares two results folders of the same grid run in
two precisions (e.g. the default report in bf16 and the same grid with ``precision="fp32"``): per run and
criterion the AUC [95 %] in each, the paired AUC difference to HIS and its p in each (is the conclusion the
same?), and the Spearman rank correlation of the head scores (mean over seeds) between the two.

    make report                                   # bf16 where the CPU has it -> results/
    make report ARGS="-p precision fp32 -p results_dir results_fp32 -p reports_dir reports_fp32"
    python benchmarks/precision_compare.py results results_fp32 [--markdown]
"""
from __future__ import annotations

import argparse

import pandas as pd
from scipy.stats import spearmanr

from hpbench.report.intervals import auc_table, replicates
from hpbench.run.results import load_tables


def _aucs(tables: dict) -> pd.DataFrame:
    t = auc_table(replicates(tables))
    return t[["task", "criterion", "AUC", "AUC lo", "AUC hi", "Δ vs his", "p"]].set_index(["task", "criterion"])


def _score_correlations(a: dict, b: dict) -> pd.Series:
    """Spearman correlation of the per-head scores (mean over seeds) between the two folders, per task x criterion."""
    def mean_scores(t):
        return t["scores"].groupby(["task", "criterion", "layer", "head"])["score"].mean()
    sa, sb = mean_scores(a), mean_scores(b)
    both = pd.concat([sa.rename("a"), sb.rename("b")], axis=1, join="inner")
    return both.groupby(level=["task", "criterion"]).apply(lambda g: spearmanr(g["a"], g["b"])[0]).rename("score rank corr.")


def compare(dir_a: str, dir_b: str, names: tuple[str, str]) -> pd.DataFrame:
    ta, tb = load_tables(dir_a), load_tables(dir_b)
    aa, ab = _aucs(ta), _aucs(tb)
    out = aa.merge(ab, left_index=True, right_index=True, suffixes=(f" {names[0]}", f" {names[1]}")).join(
        _score_correlations(ta, tb))
    sig = [(out[f"p {n}"] < 0.05) & out[f"Δ vs his {n}"].notna() for n in names]
    out["same conclusion vs his"] = [
        "reference" if pd.isna(d) else ("yes" if s0 == s1 and (not s0 or (d * d1 > 0)) else "no")
        for d, d1, s0, s1 in zip(out[f"Δ vs his {names[0]}"], out[f"Δ vs his {names[1]}"], sig[0], sig[1])]
    return out.reset_index()


def _fmt(row, n: str) -> str:
    return f"{row[f'AUC {n}']:.3f} [{row[f'AUC lo {n}']:.3f}, {row[f'AUC hi {n}']:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="results folder of the first precision (e.g. results)")
    ap.add_argument("b", help="results folder of the second precision (e.g. results_fp32)")
    ap.add_argument("--names", nargs=2, default=["bf16", "fp32"])
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    a = ap.parse_args()
    t = compare(a.a, a.b, tuple(a.names))
    n0, n1 = a.names
    if a.markdown:
        print(f"| task | criterion | AUC {n0} [95 %] | AUC {n1} [95 %] | Δ vs HIS {n0} (p) | Δ vs HIS {n1} (p) "
              f"| score rank corr. | same conclusion |\n|---|---|---|---|---|---|---|---|")
        for _, r in t.iterrows():
            d = ["reference" if pd.isna(r[f"Δ vs his {n}"]) else f"{r[f'Δ vs his {n}']:+.3f} ({r[f'p {n}']:.3f})" for n in a.names]
            print(f"| {r['task']} | {r['criterion']} | {_fmt(r, n0)} | {_fmt(r, n1)} | {d[0]} | {d[1]} "
                  f"| {r['score rank corr.']:.3f} | {r['same conclusion vs his']} |")
    else:
        pd.set_option("display.width", 220)
        print(t.round(4).to_string(index=False))
    agree = t[t["same conclusion vs his"] != "reference"]
    print(f"\nsame conclusion vs HIS in {int((agree['same conclusion vs his'] == 'yes').sum())}/{len(agree)} "
          f"task x criterion pairs; head-score rank correlation min {t['score rank corr.'].min():.3f}, "
          f"median {t['score rank corr.'].median():.3f}")


if __name__ == "__main__":
    main()
