"""Criteria searched under a FLOPs budget (``kwon``) against heads-only criteria at equal FLOPs."""
from __future__ import annotations

from ..flops import equal_flops_figure, equal_flops_view
from .base import Section, register


@register
class EqualFlops(Section):
    key, pages, order = "equal-flops", ("comparison", "run"), 60
    title = "At equal FLOPs: heads and FFN neurons together"
    intro = ("A criterion searched under a compute budget (`kwon`: heads and FFN neurons pruned together; its levels "
             "are the shares of the heads' and FFN's multiply-accumulates removed at the task's mean dev length, as Kwon "
             "et al. count them) is left out of every view at % of heads pruned and compared here **at equal FLOPs**, "
             "every model's encoder FLOPs counted per 128-token sequence. The figure: metric vs % of FLOPs removed for every "
             "criterion of those runs, 95 % bands; heads-only lines stop where pruning heads alone stops. The table: one "
             "row per budgeted level; per heads-only criterion, Δ = budgeted − heads-only at the same FLOPs (the "
             "heads-only curve interpolated linearly, on the same bootstrap resamples: a paired 95 % interval), or how "
             "far heads alone reach.")

    def applies(self, ctx):
        res = ctx.all_tables.get("results")
        return res is not None and "budget" in res and (res["budget"] == "flops").any()

    def render(self, ctx):
        yield equal_flops_figure(ctx.all_tables["results"], ctx.flops_reps)
        yield equal_flops_view(ctx.equal_flops)
