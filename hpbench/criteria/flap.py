"""FLAP (An et al., AAAI 2024, "Fluctuation-based Adaptive Structured Pruning for Large Language Models"):
retraining-free; a head matters when the input it feeds to the output projection fluctuates and the projection's
columns it feeds are large.

``flap`` follows the released code for heads (``CASIA-IVA-Lab/FLAP`` @ 9bbad71, ``lib/prune.py:prune_flap``, metric
WIFV, the AL-MM structure: attention heads ranked globally under a head budget). For output-projection input channel
j of a layer, over the calibration tokens t (non-padding tokens of the task's training examples, unpruned model):

    x̄_j = mean_t x_tj,    F_j = 1/(N−1) Σ_t (x_tj − x̄_j)²,    m_j = (F_j · ||W_o[:, j]||²)²,

m standardised over all channels of the layer, (m_j − mean_l m) / std_l m, then averaged over each head's d channels:
the head score. ``flap_sum`` keeps hpbench's earlier aggregation (S_h = Σ_{j∈h} F_j ||W_o[:, j]||², standardised over
the heads of a layer), which ranks heads differently (rank correlation 0.79 on SmolLM2-135M, issue 30).
Bias compensation (both): pruning channels P of a layer adds W_o[:, P] x̄_P to the output bias (a bias is created where
the architecture has none), so the layer's output at the mean input is unchanged.

Not (yet) as released: the fluctuation estimator (the released ``BiasGPT.add_batch`` updates a running estimate per
calibration sequence; hpbench takes the variance over all calibration tokens at once), and FLAP's joint heads +
FFN-channel threshold (AL-AM, compression weight 512/3), which needs FFN neurons as ``kwon`` has them.
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


def flap_channels(model: nn.Module, stats) -> list[torch.Tensor]:
    """Per layer, the released WIFV metric of each output-projection input channel, squared: (F_j ||W_o[:, j]||²)²."""
    return [(var * (out_matrix(o) ** 2).sum(0)) ** 2 for (o, _), (_, var) in zip(out_projections(model), stats)]


def flap_released(model: nn.Module, stats) -> torch.Tensor:
    """Head scores ``[L, H]`` as ``prune_flap`` computes them: channel metrics standardised within each layer
    (``standarlization``: mean and unbiased std over the layer's channels), then averaged over each head's channels."""
    d = out_projections(model)[0][1]
    m = torch.stack(flap_channels(model, stats))
    return standardise(m).view(m.shape[0], -1, d).mean(2)


def flap_raw(model: nn.Module, stats) -> torch.Tensor:
    """``flap_sum``: S_h = Σ_{j∈h} F_j ||W_o[:, j]||² per layer and head ``[L, H]`` (before standardisation)."""
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
    """FLAP as released (An et al. 2024; WIFV, AL-MM heads): squared channel metric, standardised per layer, head mean."""
    return flap_released(ctx.model, _stats(ctx)).float()


@register_criterion("flap_sum", rescoring=False, compensate=_compensate)
def flap_sum(ctx: ScoringContext, compensate: bool = True) -> torch.Tensor:
    """hpbench's earlier FLAP aggregation: fluctuation x squared column norm summed per head, standardised over heads."""
    return standardise(flap_raw(ctx.model, _stats(ctx))).float()
