"""What each method spent per sparsity: evaluations (A*), training steps (DSP, SMP, L0), seconds."""
from __future__ import annotations

from .. import figures
from .base import Section, register


@register
class Cost(Section):
    key, pages, order = "cost", ("comparison", "run"), 85
    title = "Cost per method and sparsity"
    intro = ("Evaluations spent by the search (A*), training steps (DSP, SMP), and seconds; mean over seeds. SMP "
             "(`prune-before-finetune`) is a different protocol: heads are chosen on the pretrained model and the pruned "
             "model is then fine-tuned, so its curve is drawn with its own line style.")

    def render(self, ctx):
        yield figures.cost(ctx.results)
