"""FLAP (An et al., AAAI 2024, "Fluctuation-based Adaptive Structured Pruning for Large Language Models"):
retraining-free; a head matters when the input it feeds to the output projection fluctuates and the projection's
columns it feeds are large.

For head h of a layer with output projection W_o (columns j in h's d channels) and calibration tokens t (the
task's training examples, non-padding tokens, unpruned model):

    x̄_j = mean_t x_tj,    F_j = 1/(N−1) Σ_t (x_tj − x̄_j)²,    S_h = Σ_{j∈h} F_j · ||W_o[:, j]||²,

standardised within each layer, (S_h − mean_l S) / std_l S, so the scores of all layers are ranked globally (the
paper's adaptive structure). Bias compensation: pruning channels P of a layer adds W_o[:, P] x̄_P to the output
bias (a bias is created where the architecture has none), so the layer's output at the mean input is unchanged.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..models.heads import add_out_bias, out_matrix, out_projections, visit_out_proj_inputs
from .base import ScoringContext, register_criterion


def out_proj_input_stats(model: nn.Module, encoded, batch_size: int = 32, pad_id: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, (mean, unbiased variance) over non-padding calibration tokens of each input channel of the output
    projection (float64)."""
    acc = [[0, 0.0, 0.0] for _ in out_projections(model)]  # n, sum, sum of squares

    def visit(l: int, x: torch.Tensor) -> None:
        acc[l][0] += x.shape[0]
        acc[l][1] = acc[l][1] + x.sum(0)
        acc[l][2] = acc[l][2] + (x * x).sum(0)

    visit_out_proj_inputs(model, encoded, visit, batch_size, pad_id)
    out = []
    for n, s, q in acc:
        mean = s / n
        out.append((mean, ((q - n * mean * mean) / max(n - 1, 1)).clamp(min=0)))
    return out


def flap_raw(model: nn.Module, stats) -> torch.Tensor:
    """S_h = Σ_{j∈h} F_j ||W_o[:, j]||² per layer and head ``[L, H]`` (before standardisation)."""
    rows = []
    for (o, d), (_, var) in zip(out_projections(model), stats):
        rows.append((var * (out_matrix(o) ** 2).sum(0)).view(-1, d).sum(1))
    return torch.stack(rows)


def standardise(s: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(s − mean) / std within each layer (rows), std with N−1 as torch.std."""
    return (s - s.mean(1, keepdim=True)) / s.std(1, keepdim=True).clamp(min=eps)


def _stats(ctx: ScoringContext):
    return ctx.remember("flap_stats", lambda: out_proj_input_stats(ctx.model, ctx.encoded, ctx.batch_size, ctx.pad_id))


def compensate_bias(model: nn.Module, keep: torch.Tensor, stats) -> nn.Module:
    """A copy of ``model`` whose output projections carry b + W_o[:, pruned] x̄_pruned in each layer with pruned heads
    (``config.hpbench_out_bias`` lists those layers, so a saved pruned model is rebuilt with the bias)."""
    out = copy.deepcopy(model)
    layers = []
    for l, ((o, d), (mean, _)) in enumerate(zip(out_projections(out), stats)):
        gone = torch.cat([torch.arange(h * d, (h + 1) * d) for h in range(keep.shape[1]) if not keep[l, h]] or
                         [torch.empty(0, dtype=torch.long)])
        if gone.numel() == 0:
            continue
        w = out_matrix(o)
        delta = (w[:, gone] @ mean[gone]).to(o.weight.dtype).to(o.weight.device)
        add_out_bias(out, [l])  # (where the architecture has none)
        with torch.no_grad():
            o.bias += delta
        layers.append(l)
    out.config.hpbench_out_bias = layers
    return out


def _compensate(ctx: ScoringContext, keep: torch.Tensor, compensate: bool = True) -> nn.Module | None:
    return compensate_bias(ctx.model, keep, _stats(ctx)) if compensate else None


@register_criterion("flap", rescoring=False, compensate=_compensate)
def flap(ctx: ScoringContext, compensate: bool = True) -> torch.Tensor:
    """FLAP fluctuation x squared output-column norm per head, standardised per layer (An et al. 2024)."""
    return standardise(flap_raw(ctx.model, _stats(ctx))).float()
