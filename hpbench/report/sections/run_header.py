"""The run page's title and settings: model, task, fine-tuning, evaluation, scoring, pruning, hardware, criteria."""
from __future__ import annotations

from ..text import run_header
from .base import Section, register


@register
class RunHeader(Section):
    key, title, pages, order = "run-header", None, ("run",), 0
    needs_results = False

    def render(self, ctx):
        yield run_header(ctx.cfg, ctx.all_tables)
