"""Decoders: quality against the share of the KV cache removed. A KV head goes only when every query head of its group
is pruned, so the same share of query heads frees very different amounts of decoding memory depending on the pruning
unit (query heads one by one rarely empty a group; whole groups always do)."""
from __future__ import annotations

import pandas as pd

from .. import figures
from .base import Section, register


def grouped_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Rows of models whose query heads share KV heads (``query_heads_per_kv`` > 1). Without grouping (encoders,
    GPT-2) the KV share is the head share and the view adds nothing; rows written before that column existed count
    as grouped where their model's two shares differ in any of its runs."""
    if "kv_pruned_share" not in results:
        return results.iloc[0:0]
    per_kv = results["query_heads_per_kv"] if "query_heads_per_kv" in results else pd.Series(float("nan"), results.index)
    differs = (results["kv_pruned_share"] - results["pruned_share"]).abs() > 1e-9
    return results[(per_kv > 1) | (per_kv.isna() & results["model"].isin(results.loc[differs, "model"]))]


def _grouped(ctx) -> bool:
    r = grouped_rows(ctx.results)
    return bool((r["kv_pruned_share"].fillna(0) > 0).any())


@register
class KVCache(Section):
    key, pages, order = "kv-cache", ("comparison",), 32
    title = "Decoders: metric vs % of the KV cache removed"
    intro = ("For decoders with grouped KV heads, decoding memory is the KV cache: a KV head is freed only when every "
             "query head of its group is pruned. One panel per model, task and pruning unit (`query`: heads one by "
             "one; `group`: whole KV groups; `balanced`: the same count in every group); mean over seeds. Perplexities "
             "on a log scale. The table gives, per level, the share of query heads and of KV heads removed.")

    def applies(self, ctx):
        return ctx.has_results and _grouped(ctx)

    def render(self, ctx):
        results = grouped_rows(ctx.results)
        yield figures.kv_curves(results)
        df = figures.main_results(results)
        df = df.assign(unit=df["gqa_unit"].fillna("query"))
        t = df.groupby(["model", "task", "unit", "sparsity", "criterion"]).agg(
            heads=("pruned_share", "mean"), kv=("kv_pruned_share", "mean"), value=("value", "mean")).reset_index()
        t["cell"] = [f"{v:.4g} ({100 * k:.0f} % KV)" for v, k in zip(t["value"], t["kv"])]
        t["% heads"] = (100 * t["heads"]).round(0)
        yield ("Each cell: the metric (mean over seeds) and, in brackets, the share of the KV cache that criterion's "
               "plan removes at that level.")
        yield t.pivot_table(index=["model", "task", "unit", "sparsity"], columns="criterion", values="cell", aggfunc="first")
