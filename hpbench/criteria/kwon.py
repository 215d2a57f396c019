"""Retraining-free pruning (Kwon, Kim, Mahoney, Hassoun, Keutzer, Gholami, NeurIPS 2022, "A Fast Post-Training
Pruning Framework for Transformers"; own code after the paper and ``WoosukKwon/retraining-free-pruning``) as a
criterion with its own mask search. On ``n`` training examples (2,048; all where the task has fewer):

1. Fisher: per-example gradients g of the loss w.r.t. the head gates at 1; diagonal I_h = E_x g_h(x)^2 and, per
   layer l, the block F_l = E_x g_l(x) g_l(x)^T (interactions inside a layer).
2. Mask search under the budget. Heads only (default): the number of heads kept, as for every other criterion;
   the kept set maximising the total kept diagonal Fisher = the top heads by I_h. ``ffn=true`` (the paper's
   setting): heads and FFN neurons together under a FLOPs budget, the sparsity being the share of the encoder's
   FLOPs removed (:mod:`hpbench.criteria.kwon_ffn`); reports compare it at equal FLOPs, never at equal heads.
3. Rearrangement per layer, with the layer's counts fixed: the pruned set P minimising 1_P^T F_l 1_P (the
   quadratic estimate of the loss increase of removing P together); exhaustive where C(H, |P|) <= 20,000, else
   the paper's greedy pass (:func:`hpbench.criteria.kwon_ffn.greedy_rearrange`; FFN neurons always).
4. Mask tuning (:mod:`hpbench.recovery.mask_tuning`): kept heads (and neurons) rescaled by least squares so each
   layer's output matches the unpruned model's on the sample; the rescaled weights are evaluated with the mask.
"""
from __future__ import annotations

import itertools
import math
import time

import torch

from ..models.architectures import architecture_for
from ..models.ffn import FFN_MAPS, ffn_shape, prune_neurons, scale_neurons
from ..models.flops import FLOPS_SEQ, unit_flops
from ..recovery.mask_tuning import head_gram, neuron_gram, tune_mask, tuned_scales
from .base import MaskResult, ScoringContext, register_criterion
from .kwon_ffn import flops_budget, gate_fisher, greedy_rearrange, keep_top, search_flops
from .stats import head_stats

EXHAUSTIVE_LIMIT = 20_000


def search_topk(fisher: torch.Tensor, n_prune: int) -> torch.Tensor:
    """Keep mask maximising the summed diagonal Fisher of the kept heads with ``n_prune`` pruned (ties by index)."""
    return keep_top(fisher, fisher.numel() - n_prune)


def pruned_cost(block: torch.Tensor, pruned: list[int]) -> float:
    """1_P^T F 1_P for the pruned heads ``pruned`` of one layer's Fisher block ``F``."""
    if not pruned:
        return 0.0
    idx = torch.tensor(pruned)
    return float(block[idx][:, idx].sum())


def rearrange_layer(block: torch.Tensor, keep_row: torch.Tensor) -> torch.Tensor:
    """The layer's keep row with the same count minimising :func:`pruned_cost` (exhaustive when small, else the
    paper's greedy pass from ``keep_row``); never worse than ``keep_row``."""
    H = keep_row.numel()
    k = int((~keep_row).sum())
    if k in (0, H):
        return keep_row.clone()
    if math.comb(H, k) > EXHAUSTIVE_LIMIT:
        return greedy_rearrange(block, keep_row)
    best = min(itertools.combinations(range(H), k), key=lambda p: (pruned_cost(block, list(p)), p))
    out = torch.ones(H, dtype=torch.bool)
    out[list(best)] = False
    return out


def rearrange(blocks: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    return torch.stack([rearrange_layer(blocks[l], keep[l]) for l in range(keep.shape[0])])


def _fisher(ctx: ScoringContext, n: int):
    def run():
        data = ctx.sample(n)
        t0 = time.perf_counter()
        st = head_stats(ctx.model, ctx.task, data, batch_size=ctx.batch_size, pad_id=ctx.pad_id, entropy=False,
                        precision=ctx.precision, desc="kwon: Fisher")
        return st, data, time.perf_counter() - t0
    return ctx.remember(("kwon_fisher", n), run)


def _kwon_mask(ctx: ScoringContext, n_prune: int, n: int = 2048, rearrange_masks: bool = True, tune: bool = True,
               ffn: bool = False, sparsity: float = 0.0) -> MaskResult:
    if ffn:
        return _kwon_ffn_mask(ctx, sparsity, n, rearrange_masks, tune)
    st, data, fisher_s = _fisher(ctx, n)
    info = {"kwon_n": st.n_examples, "kwon_fisher_seconds": fisher_s}
    if tune:  # one Gram pass serves every level (its time reported once)
        gram, info["kwon_gram_seconds"] = _gram(ctx, data, n, "kwon_gram", head_gram)
    t0 = time.perf_counter()
    keep = search_topk(st.fisher, n_prune)
    if rearrange_masks:
        keep = rearrange(st.fisher_block, keep)
    model = tune_mask(ctx.model, keep, gram)[0] if tune and n_prune > 0 else None
    costs = {"kwon_mask_seconds": time.perf_counter() - t0}  # this level's search, rearrangement, tuning (summed)
    return MaskResult(keep, model, info, costs=costs)


def _gram(ctx: ScoringContext, data, n: int, name: str, fn):
    return ctx.remember((name, n), lambda: _timed(lambda: fn(ctx.model, data, ctx.batch_size, ctx.pad_id)))


def check_ffn_model(model) -> None:
    """``kwon:ffn=true`` needs an architecture whose FFN neurons hpbench knows, and one KV head per query head
    (with grouped KV heads a query head's FLOPs depend on its group, so the search's per-unit costs do not hold)."""
    mt = model.config.model_type
    if architecture_for(model).ffn is None:
        raise ValueError(f"kwon: ffn=true: hpbench does not know where {mt!r}'s FFN neurons are; "
                         f"model types with FFN maps: {', '.join(FFN_MAPS.names())}")
    if getattr(model.config, "num_key_value_heads", None) not in (None, model.config.num_attention_heads):
        raise ValueError(f"kwon: ffn=true needs one KV head per query head; this {mt} groups "
                         f"{model.config.num_attention_heads} query heads over {model.config.num_key_value_heads} KV heads")


def _kwon_ffn_mask(ctx: ScoringContext, sparsity: float, n: int, rearrange_masks: bool, tune: bool) -> MaskResult:
    """Heads and FFN neurons under the FLOPs budget (1 − sparsity) x dense (per ``FLOPS_SEQ``-token sequence)."""
    check_ffn_model(ctx.model)
    data, fi = ctx.sample(n), _gate_fisher(ctx, n)
    info = {"kwon_n": fi.n_examples, "kwon_fisher_seconds": fi.seconds}
    (L, H), (_, N) = ctx.shape, ffn_shape(ctx.model)
    ch, cn = unit_flops(ctx.model.config, FLOPS_SEQ)
    if tune:  # one pass each serves every level (their time reported once, not in the level's mask time)
        (hg, hs), (ng, ns) = _gram(ctx, data, n, "kwon_gram", head_gram), _gram(ctx, data, n, "kwon_neuron_gram", neuron_gram)
        info["kwon_gram_seconds"] = hs + ns
    t0 = time.perf_counter()
    keep, nkeep = search_flops(fi.head, fi.neuron, ch, cn, flops_budget(L * H * ch + L * N * cn, sparsity))
    if rearrange_masks:
        keep, nkeep = rearrange(fi.head_block, keep), rearrange(fi.neuron_block, nkeep)
    model = None
    if not (keep.all() and nkeep.all()):
        model = scale_neurons(tune_mask(ctx.model, keep, hg)[0], _kept_scales(ng, nkeep)) if tune else _copy(ctx.model)
        model = prune_neurons(model, nkeep)
    return MaskResult(keep, model, info, ffn_keep=nkeep, costs={"kwon_mask_seconds": time.perf_counter() - t0})


def _gate_fisher(ctx: ScoringContext, n: int):
    return ctx.remember(("kwon_gate_fisher", n), lambda: gate_fisher(
        ctx.model, ctx.task, ctx.sample(n), batch_size=ctx.batch_size, pad_id=ctx.pad_id, precision=ctx.precision))


def _kept_scales(gram: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    s = tuned_scales(gram, keep)
    return torch.where(keep, s, torch.ones_like(s)).float()


def _copy(model):
    import copy

    return copy.deepcopy(model)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def check_kwon(n: int = 2048, rearrange_masks: bool = True, tune: bool = True, ffn: bool = False) -> None:
    if n < 1:
        raise ValueError(f"kwon: n={n} must be >= 1 (training examples for the Fisher and the tuning)")


@register_criterion("kwon", mask_fn=_kwon_mask, check=check_kwon)
def kwon(ctx: ScoringContext, n: int = 2048, rearrange_masks: bool = True, tune: bool = True,
         ffn: bool = False) -> torch.Tensor:
    """Kwon et al. 2022 retraining-free pipeline: Fisher search, per-layer rearrangement, mask tuning (``ffn=true``:
    heads and FFN neurons under a FLOPs budget).

    The head-map score is the diagonal Fisher on the sample."""
    if ffn:
        check_ffn_model(ctx.model)
        return _gate_fisher(ctx, n).head.float()
    return _fisher(ctx, n)[0].fisher
