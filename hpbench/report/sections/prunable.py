"""The largest share of heads prunable within one point of the unpruned model, certified by the interval."""
from __future__ import annotations

from .. import figures
from .base import Section, register


@register
class Prunable(Section):
    key, pages, order = "prunable", ("comparison", "run"), 65
    title = "Largest share of heads prunable within 1 point of the unpruned model"
    intro = ("The largest sparsity such that, there and at every smaller sparsity, the worse end of the 95 % interval of "
             "(pruned − unpruned) stays within one point of the metric (0.01 for accuracy-like metrics, 1.0 for "
             "perplexity, +5 % of the unpruned value for word perplexity, where lower is better and the upper end is the "
             "worse one; the share is what the plans really pruned); no answer, with the reason, when the "
             "unpruned model does not beat the majority-class baseline (correlations: 0).")

    def render(self, ctx):
        yield figures.prunable_within(ctx.results, reps=ctx.reps)
