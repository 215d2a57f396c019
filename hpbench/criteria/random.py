"""Random baseline: i.i.d. uniform scores from the run's seed."""
from __future__ import annotations

import torch

from .base import ScoringContext, register_criterion


@register_criterion("random", rescoring=False)
def random_scores(ctx: ScoringContext) -> torch.Tensor:
    """Uniform random scores (seeded): a random global ranking of the heads."""
    return torch.rand(ctx.shape, generator=ctx.generator(salt=1))
