"""Metric vs % of heads pruned, one line per criterion, 95 % bands."""
from __future__ import annotations

from .. import figures
from .base import Section, register


@register
class Curves(Section):
    key, pages, order = "curves", ("comparison", "run"), 30
    title = "Metric vs % of heads pruned, per task"
    intro = ("One line per criterion, mean over seeds; band = 95 % interval (bootstrap over the dev examples, and over "
             "the seeds when there are several). Every criterion is evaluated on the same examples, so bands can overlap "
             "where the paired test still finds a difference: the `*` marks in the next table are the comparison.")

    def render(self, ctx):
        yield figures.curves(ctx.results, ctx.reps)
