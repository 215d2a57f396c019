"""The runs of a comparison and their settings, with the majority-class baseline of each."""
from __future__ import annotations

from ..text import comparison_header
from .base import Section, register


@register
class RunsAndSettings(Section):
    key, title, pages, order = "settings", "Runs and settings", ("comparison",), 20

    def render(self, ctx):
        yield comparison_header(ctx.tables)
