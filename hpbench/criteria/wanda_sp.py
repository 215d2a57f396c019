"""Wanda-sp (An et al., AAAI 2024, the structured Wanda baseline of the FLAP paper; ``CASIA-IVA-Lab/FLAP`` @ 9bbad71,
``lib/prune.py:prune_wanda_sp``): Wanda's weight-times-activation metric (Sun et al. 2024) summed over a head.

For output-projection input channel j of a layer, over the calibration tokens t (non-padding tokens of the scoring
examples, unpruned model), with Wanda's ``scaler_row`` s_j ∝ Σ_t x_tj² (the release divides by the number of
calibration sequences, a constant within a layer):

    m_j = mean_i |W_o[i, j]| · sqrt(s_j),        S_h = Σ_{j ∈ h} m_j   (head h's d channels)

As released, every layer prunes the same share of its heads (``thresh = sort(S)[int(ratio · H)]`` per layer): the
scores are not comparable across layers, so ``wanda_sp`` plans are always layer-uniform (the run's ``layer_uniform``
is implied). With ``gqa_unit: group`` a KV group is scored by its query heads' mean, the same order as the sum over the
group's channels that the GQA port of the release uses.

Not as released: heads only (``prune_wanda_sp`` also prunes FFN channels at the same ratio, in the same pass); and
the statistics of every layer come from the unpruned model (the release re-collects each layer's inputs after pruning
the layers before it, so a layer's scores depend on the level).
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.heads import out_matrix, out_projections, visit_out_proj_inputs
from .base import ScoringContext, register_criterion


def input_square_sums(model: nn.Module, encoded, batch_size: int = 32, pad_id: int = 0) -> list[torch.Tensor]:
    """Per layer, Σ_t x_tj² over the non-padding calibration tokens of each output-projection input channel (float64)."""
    acc: list = [0.0] * len(out_projections(model))

    def visit(l: int, x: torch.Tensor) -> None:
        acc[l] = acc[l] + (x * x).sum(0)

    visit_out_proj_inputs(model, encoded, visit, batch_size, pad_id)
    return acc


def wanda_sp_scores(model: nn.Module, square_sums: list[torch.Tensor]) -> torch.Tensor:
    """``[L, H]``: S_h = Σ_{j∈h} mean_i |W_o[i, j]| sqrt(s_j) (module docstring)."""
    rows = []
    for (o, d), s in zip(out_projections(model), square_sums):
        w = out_matrix(o)
        rows.append((w.abs() * s.sqrt().view(1, -1)).mean(0).view(-1, d).sum(1))
    return torch.stack(rows)


@register_criterion("wanda_sp", rescoring=False, layer_uniform=True)
def wanda_sp(ctx: ScoringContext) -> torch.Tensor:
    """Wanda-sp's head metric as released (An et al. 2024): Σ over the head's channels of mean |W_o| x input norm;
    the same share of heads pruned in every layer."""
    sums = ctx.remember("wanda_sp_square_sums", lambda: input_square_sums(ctx.model, ctx.encoded, ctx.batch_size, ctx.pad_id))
    return wanda_sp_scores(ctx.model, sums).float()
