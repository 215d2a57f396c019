"""How much the criteria agree: Jaccard overlap of their pruned head sets at 50 % pruned."""
from __future__ import annotations

from .. import figures
from .base import Section, per_run, register

SPARSITY = 0.5


@register
class Jaccard(Section):
    key, pages, order = "jaccard", ("comparison", "run"), 100
    title = "Overlap (Jaccard) of pruned head sets between criteria at 50 % pruned"

    def applies(self, ctx):
        m = ctx.tables.get("masks")
        return m is not None and len(m) > 0 and (abs(m["sparsity"] - SPARSITY) < 1e-9).any()

    def render(self, ctx):
        for title, m in per_run(ctx.tables["masks"]):
            yield figures.jaccard_map(m, SPARSITY, title=f"{title}: Jaccard at 50 % pruned" if title else "")
