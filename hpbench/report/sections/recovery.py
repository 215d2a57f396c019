"""What recovery (mask tuning, fine-tuning) adds: runs that differ only in ``recovery``, paired."""
from __future__ import annotations

from ..recovery import recovery_table
from .base import Section, register


@register
class Recovery(Section):
    key, pages, order = "recovery", ("comparison",), 55
    title = "What recovery adds (paired, 95 % intervals)"
    intro = ("Runs that differ only in `recovery` (`run_params: {recovery: [none, mask_tuning, finetune]}`): AUC of each "
             "criterion without and with each recovery, the difference with its paired bootstrap interval on the same "
             "dev examples and the permutation p (the unpruned point is shared). Criteria are compared *within* each "
             "recovery in the sections above (one run per recovery).")

    def applies(self, ctx):
        run = ctx.all_tables.get("run")
        return run is not None and "recovery" in run and run["recovery"].fillna("none").nunique() >= 2

    def render(self, ctx):
        rec = recovery_table(ctx.all_tables)
        yield rec.round(4) if len(rec) else "*No run differs from another only in its recovery.*"
