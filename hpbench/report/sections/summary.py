"""The main metric per sparsity with its 95 % interval; ``*`` marks a paired difference from HIS."""
from __future__ import annotations

from .. import figures
from .base import Section, register


@register
class Summary(Section):
    key, pages, order = "summary", ("comparison", "run"), 40
    title = "Main metric: mean [95 % interval]"
    intro = "`*` = differs from HIS at that sparsity (paired permutation test on the same dev examples, p < 0.05)."

    def render(self, ctx):
        yield figures.summary(ctx.results, ctx.reps)
