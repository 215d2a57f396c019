"""The comparison page's title and the grid cells that failed (no heading: the page's preamble)."""
from __future__ import annotations

from ..escape import esc
from ..text import failed_cells
from .base import Section, register


@register
class Status(Section):
    key, title, pages, order = "status", None, ("comparison",), 0
    needs_results = False

    def render(self, ctx):
        yield f"# {esc(ctx.title)}"
        yield failed_cells(ctx.status_csv)
