"""Attention entropy of each head (low entropy = focused attention)."""
from __future__ import annotations

import torch

from .base import ScoringContext, register_criterion


@register_criterion("entropy")
def entropy(ctx: ScoringContext, keep_low: bool = True) -> torch.Tensor:
    """Mean attention entropy E_x mean_i [-sum_j p_ij log p_ij] over non-padding queries i and keys j.

    ``keep_low=True`` (default) keeps focused (low-entropy) heads and prunes the most diffuse ones:
    score = -entropy. ``keep_low=False`` keeps the most diffuse heads.
    """
    e = ctx.stats().entropy
    return -e if keep_low else e
