"""Area under the curve per criterion with its interval, and the paired difference to HIS."""
from __future__ import annotations

from .. import figures
from .base import Section, register


@register
class AUC(Section):
    key, pages, order = "auc", ("comparison", "run"), 50
    title = "Area under the curve (95 % interval; Δ vs HIS with its paired interval and permutation p)"
    intro = ("The `better` column says which way the metric is better; `vs his` reads a significant Δ in that "
             "direction.")

    def render(self, ctx):
        yield figures.auc(ctx.results, ctx.reps, table=ctx.auc)
