"""FLAP (An et al., AAAI 2024, "Fluctuation-based Adaptive Structured Pruning for Large Language Models"):
retraining-free; a head matters when the input it feeds to the output projection fluctuates and the projection's
columns it feeds are large.

``flap_heads`` is the released code's head part (``CASIA-IVA-Lab/FLAP`` @ 9bbad71, ``lib/prune.py:prune_flap``,
metric WIFV, the AL-MM structure: attention heads ranked globally under a head budget; it works with every pruning
unit). For output-projection input channel j of a layer, over the calibration tokens t (non-padding tokens of the
task's training examples, unpruned model):

    x̄_j = mean_t x_tj,    F_j = 1/(N−1) Σ_t (x_tj − x̄_j)²,    m_j = (F_j · ||W_o[:, j]||²)²,

m standardised over all channels of the layer, (m_j − mean_l m) / std_l m, then averaged over each head's d channels:
the head score. ``flap_sum`` keeps hpbench's earlier aggregation (S_h = Σ_{j∈h} F_j ||W_o[:, j]||², standardised over
the heads of a layer), which ranks heads differently (rank correlation 0.79 on SmolLM2-135M, issue 30).
Bias compensation (both): pruning channels P of a layer adds W_o[:, P] x̄_P to the output bias (a bias is created where
the architecture has none), so the layer's output at the mean input is unchanged.

``flap`` prunes **heads and FFN channels together** (the released default structure AL-AM, ``prune_flap``): FFN
channel j of a layer (an input of its down projection) scores its WIFV F_j ||W_down[:, j]||² (not squared), standardised over the
layer's channels; the head scores above and all channel scores are sorted together (descending) and one threshold is
taken where the cumulative weight, a head weighing ``head_weight`` = 512/3 and a channel 1, is nearest to
(1 − level) x the total weight; heads and channels scoring above it stay. 512/3 is the release's constant: LLaMA-7B's
parameters per head (4 x 128 x d) over those per FFN channel (3 x d); it is kept as released whatever the model (a
``head_weight`` can be given). The level is that weighted share, not a share of heads, so such plans are compared at
equal FLOPs (like ``kwon``). Compensation then also adds W_down[:, P] x̄_P to each down projection's bias.

Not as released: the fluctuation estimator (the released ``BiasGPT.add_batch`` updates a running estimate per
calibration sequence; hpbench takes the variance over all calibration tokens at once); GQA models (the release is
multi-head only: a KV head goes when its last query head goes, as everywhere in hpbench).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..models.ffn import add_ffn_bias, down_projections
from ..models.heads import add_out_bias, out_matrix, out_projections, visit_inputs, visit_out_proj_inputs
from .base import MaskResult, ScoringContext, register_criterion

HEAD_WEIGHT = 512.0 / 3  # released compression weight of a head against one FFN channel (LLaMA-7B's parameter ratio)


def out_proj_input_stats(model: nn.Module, encoded, batch_size: int = 32, pad_id: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, (mean, unbiased variance) over non-padding calibration tokens of each input channel of the output
    projection (float64)."""
    return _input_stats(lambda visit: visit_out_proj_inputs(model, encoded, visit, batch_size, pad_id),
                        len(out_projections(model)))


def ffn_input_stats(model: nn.Module, encoded, batch_size: int = 32, pad_id: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, (mean, unbiased variance) of each input channel of the FFN's down projection (the FFN neurons)."""
    downs = down_projections(model)
    return _input_stats(lambda visit: visit_inputs(model, downs, encoded, visit, batch_size, pad_id), len(downs))


def _input_stats(run, n_layers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    acc = [[0, 0.0, 0.0] for _ in range(n_layers)]  # n, sum, sum of squares

    def visit(l: int, x: torch.Tensor) -> None:
        acc[l][0] += x.shape[0]
        acc[l][1] = acc[l][1] + x.sum(0)
        acc[l][2] = acc[l][2] + (x * x).sum(0)

    run(visit)
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


def ffn_channel_scores(model: nn.Module, fstats) -> torch.Tensor:
    """``[L, N]``: the released FFN metric, WIFV F_j ||W_down[:, j]||², standardised over each layer's channels."""
    return standardise(torch.stack([var * (out_matrix(d) ** 2).sum(0) for d, (_, var) in zip(down_projections(model), fstats)]))


def joint_threshold(heads: torch.Tensor, channels: torch.Tensor, level: float, head_weight: float = HEAD_WEIGHT
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(heads kept ``[L, H]``, channels kept ``[L, N]``): the released AL-AM threshold (module docstring)."""
    metric = torch.cat([heads.flatten(), channels.flatten()]).double()
    ordered, idx = torch.sort(metric, descending=True)
    weight = torch.ones_like(ordered)
    weight[idx < heads.numel()] = head_weight
    at = torch.argmin(torch.abs(torch.cumsum(weight, 0) - weight.sum() * (1 - level)))
    t = ordered[at]
    return heads.double() > t, channels.double() > t


def compensate_ffn(model: nn.Module, ffn_keep: torch.Tensor, fstats) -> nn.Module:
    """``model`` (changed in place) with W_down[:, pruned] x̄_pruned added to each down projection's bias."""
    layers = [l for l in range(ffn_keep.shape[0]) if not ffn_keep[l].all()]
    add_ffn_bias(model, layers)
    for l in layers:
        d, gone = down_projections(model)[l], (~ffn_keep[l]).nonzero().flatten()
        delta = out_matrix(d)[:, gone] @ fstats[l][0][gone]
        with torch.no_grad():
            d.bias += delta.to(d.bias.dtype).to(d.bias.device)
    return model


def _compensate(ctx: ScoringContext, keep: torch.Tensor, compensate: bool = True, **_) -> nn.Module | None:
    return compensate_bias(ctx.model, keep, _stats(ctx)) if compensate else None


def _flap_mask(ctx: ScoringContext, n_prune: int, compensate: bool = True, head_weight: float = HEAD_WEIGHT,
               sparsity: float = 0.0) -> MaskResult:
    """One level of the released AL-AM: heads and FFN channels under one weighted threshold, bias-compensated."""
    heads = flap_released(ctx.model, _stats(ctx))
    fstats = ctx.remember("flap_ffn_stats", lambda: ffn_input_stats(ctx.model, ctx.encoded, ctx.batch_size, ctx.pad_id))
    channels = ffn_channel_scores(ctx.model, fstats)
    if sparsity <= 0:
        return MaskResult(torch.ones_like(heads, dtype=torch.bool), None, ffn_keep=torch.ones_like(channels, dtype=torch.bool))
    keep, ffn_keep = joint_threshold(heads, channels, float(sparsity), head_weight)
    model = _compensate(ctx, keep, compensate)
    if compensate:
        compensate_ffn(model, ffn_keep, fstats)
    return MaskResult(keep, model, {"flap_heads_kept": int(keep.sum()), "flap_channels_kept": int(ffn_keep.sum())},
                      ffn_keep=ffn_keep)


def check_flap(compensate: bool = True, head_weight: float = HEAD_WEIGHT) -> None:
    if not head_weight > 0:
        raise ValueError(f"flap: head_weight={head_weight} must be > 0 (a head's weight against one FFN channel)")


@register_criterion("flap", mask_fn=_flap_mask, rescoring=False, check=check_flap)
def flap(ctx: ScoringContext, compensate: bool = True, head_weight: float = HEAD_WEIGHT) -> torch.Tensor:
    """FLAP as released (An et al. 2024; WIFV, AL-AM): heads and FFN channels under one threshold, bias compensation
    (levels = the weighted share removed; compared at equal FLOPs). The head-map score is the standardised head metric."""
    return flap_released(ctx.model, _stats(ctx)).float()


@register_criterion("flap_heads", rescoring=False, compensate=_compensate)
def flap_heads(ctx: ScoringContext, compensate: bool = True) -> torch.Tensor:
    """FLAP's heads alone (the release's AL-MM head metric, ranked globally under a head budget), bias compensation."""
    return flap_released(ctx.model, _stats(ctx)).float()


@register_criterion("flap_sum", rescoring=False, compensate=_compensate)
def flap_sum(ctx: ScoringContext, compensate: bool = True) -> torch.Tensor:
    """hpbench's earlier FLAP aggregation: fluctuation x squared column norm summed per head, standardised over heads."""
    return standardise(flap_raw(ctx.model, _stats(ctx))).float()
