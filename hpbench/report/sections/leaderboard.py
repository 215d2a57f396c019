"""Writes the leaderboard (``results/leaderboard.csv`` + Parquet, ``reports/leaderboard.html``) and links it."""
from __future__ import annotations

from ..leaderboard import write_leaderboard
from .base import Section, register


@register
class Leaderboard(Section):
    key, title, pages, order = "leaderboard", None, ("comparison",), 12

    def applies(self, ctx):
        return bool(ctx.reports_dir) and bool(ctx.reps)

    def render(self, ctx):
        write_leaderboard(ctx.reps, ctx.results_dir, ctx.reports_dir, ctx.auc)
        yield ("The [leaderboard](leaderboard.html) lists every criterion x run with its AUC difference to HIS "
               "(sortable; `results/leaderboard.csv`).")
