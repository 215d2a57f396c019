"""Accuracy vs cost: each level of each criterion against evaluation time and FLOPs, with the Pareto front."""
from __future__ import annotations

from .. import figures
from ..intervals import replicates
from .base import Section, register


@register
class Pareto(Section):
    key, pages, order = "pareto", ("comparison",), 80
    title = "Accuracy vs cost (Pareto view)"
    intro = ("Each point is a sparsity level of a criterion (criteria under a FLOPs budget included: cost is the common "
             "axis), mean over seeds, bar = 95 % interval; the dashed black steps are the Pareto front over all of them "
             "(no cheaper point scores better: higher, or lower for perplexity). Left: the dev-subset evaluation time of "
             "the physically pruned model, measured during the run (cells that ran side by side shared the CPU, so it is "
             "noisy); right: its encoder FLOPs per 128-token sequence (exact). `benchmarks/pruning_speed.py` measures "
             "latency under control.")

    def applies(self, ctx):
        return ctx.has_results and ("dense_seconds" in ctx.tables["run"]
                                    or any(c.startswith("encoder_gflops_") for c in ctx.results))

    def render(self, ctx):
        t = ctx.tables
        cost_reps = replicates(t, budget=None) if len(ctx.equal_flops) else ctx.reps  # budgeted criteria on a cost axis
        if "dense_seconds" in t["run"]:
            yield figures.pareto(t["results"], t["run"], x="seconds", reps=cost_reps)
        if any(c.startswith("encoder_gflops_") for c in t["results"]):
            yield figures.pareto(t["results"], t["run"], x="gflops", reps=cost_reps)
