"""Each criterion's head scores as a layer x head map, per run."""
from __future__ import annotations

from .. import figures
from .base import Section, per_run, register


@register
class HeadMaps(Section):
    key, pages, order = "head-maps", ("comparison", "run"), 95
    title = "Head scores (layer × head), per run"
    intro = "Mean over seeds; higher = kept longer."

    def applies(self, ctx):
        return len(ctx.tables.get("scores", ())) > 0

    def render(self, ctx):
        for title, sc in per_run(ctx.tables["scores"]):
            yield figures.head_maps(sc, title=title)
