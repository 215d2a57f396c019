"""What `make report PRESET=hies2025` says about the HIES paper's claims, from a results folder: the HIES claims rows
with intervals and verdicts (CoLA at 50 % first), the alpha chosen per model x task (per seed), and HIES vs HIS per
task and sparsity with the paired difference, its interval and permutation p.

    python benchmarks/hies_claims.py [--results results] [--markdown]
"""
from __future__ import annotations

import argparse

import pandas as pd

from hpbench.claims import claims_table
from hpbench.report.intervals import curve_table, replicates
from hpbench.run.results import load_tables


def chosen_alpha(results: pd.DataFrame) -> pd.DataFrame:
    """Per model x task: the alpha ``hies`` chose for each seed (from the ``alpha`` column)."""
    h = results[(results["criterion"] == "hies") & results["main"].astype(bool)]
    if h.empty or "alpha" not in h:
        return pd.DataFrame()
    per_seed = h.drop_duplicates(["model", "task", "seed"]).sort_values("seed")
    return per_seed.groupby(["model", "task"])["alpha"].agg(lambda a: ", ".join(f"{v:g}" for v in a)).rename(
        "alpha per seed").reset_index()


def hies_vs_his(reps) -> pd.DataFrame:
    t = curve_table(reps, reference="his")
    t = t[(t["criterion"] == "hies") & (t["sparsity"] > 0)]
    return t[["model", "task", "sparsity", "value", "diff_vs_his", "diff_lo", "diff_hi", "p", "vs his"]]


def markdown(df: pd.DataFrame) -> str:
    """A Markdown table (pandas' to_markdown needs tabulate, not a dependency)."""
    cells = [[str(v) for v in row] for row in df.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
                     + ["| " + " | ".join(r) + " |" for r in cells])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    tables = load_tables(a.results)
    reps = replicates(tables)
    claims = claims_table(tables, reps)
    claims = claims[claims["claim"].str.startswith("hies")]
    order = {"cola": 0}
    claims = claims.assign(_o=claims["task"].map(lambda t: order.get(t, 1))).sort_values(["_o", "claim"], kind="stable")
    cols = ["claim", "task", "run", "paper's number", "hpbench measurement [95 % interval]", "verdict"]
    show = (lambda df: print(markdown(df))) if a.markdown else (lambda df: print(df.to_string(index=False)))
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 140)
    print("HIES claims (CoLA at 50 % first)")
    show(claims[cols])
    print("\nalpha chosen by hies (alpha=auto) on held-out training examples")
    show(chosen_alpha(tables["results"]))
    print("\nHIES vs HIS per task and sparsity (paired difference, 95 % interval, permutation p)")
    show(hies_vs_his(reps).round(4))


if __name__ == "__main__":
    main()
