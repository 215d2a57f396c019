"""The spread of the main metric across seeds, by what the seeds vary, with chi-square intervals."""
from __future__ import annotations

from ..stability import stability_view
from .base import Section, register


@register
class Stability(Section):
    key, pages, order = "stability", ("comparison", "run"), 90
    title = "Stability: std of the main metric across seeds, by what the seeds vary"
    intro = ("RMS over the pruned sparsities of the std across seeds, with its 95 % interval (chi-square, n − 1 degrees "
             "of freedom). *Scoring subsets*: one fine-tuned model, seeds vary the scoring examples; *fine-tuning seeds*: "
             "one fine-tuned model per seed (`make report PRESET=stability`), the spread the papers report. Ratio to HIS "
             "> 1 = more stable than HIS (F interval).")

    def render(self, ctx):
        yield stability_view(ctx.results, ctx.tables["run"])
