"""The HIES reconstruction's grid (alpha x entropy sign x normalisation), when ``PRESET=hies_grid`` ran."""
from __future__ import annotations

from .. import hies_grid
from .base import Section, register


@register
class HiesGrid(Section):
    key, pages, order = "hies-grid", ("comparison",), 75
    title = "HIES reconstruction explored: alpha × entropy sign × normalisation (`hies_recon`)"
    intro = ("Left: AUC − AUC(HIS), `*` = paired permutation test p < 0.05; right: std(HIS) / std(setting) across seeds "
             "(> 1 = more stable than HIS). `hies_recon` is hpbench's earlier reconstruction from the paper's abstract "
             "(the paper's own definition is `hies`); alpha = 1 is min-max-normalised HIS, alpha = 0 normalised ± entropy.")

    def applies(self, ctx):
        return ctx.variants and len(self._grid(ctx)) > 4

    def _grid(self, ctx):
        if not hasattr(ctx, "_hies_grid"):
            t = ctx.all_tables
            ctx._hies_grid = hies_grid.grid_table(ctx.all_reps, t["results"], t["run"])
        return ctx._hies_grid

    def render(self, ctx):
        grid = self._grid(ctx)
        yield hies_grid.heatmaps(grid)
        yield ("**Best setting per task** (largest AUC; picked after seeing the results, so it beats HIS only if p × "
               "settings searched (Bonferroni) < 0.05, on a task whose unpruned model beats the majority baseline):")
        yield hies_grid.best_settings(grid)
        yield ("**Every setting** with its 95 % intervals (AUC difference: paired bootstrap; stability ratio: F interval "
               "over the seeds, which with 3 seeds spans roughly 0.2x to 6x):")
        yield grid.set_index(["model", "task", "alpha", "entropy_sign", "norm"]).drop(columns=["criterion"]).round(4)
