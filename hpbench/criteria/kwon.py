"""Retraining-free pruning (Kwon, Kim, Mahoney, Hassoun, Keutzer, Gholami, NeurIPS 2022, "A Fast Post-Training
Pruning Framework for Transformers"; own code after the paper and ``WoosukKwon/retraining-free-pruning``), heads
only, as a criterion with its own mask search. On ``n`` training examples (2,048; all where the task has fewer):

1. Fisher: per-example gradients g of the loss w.r.t. the head gates at 1; diagonal I_h = E_x g_h(x)^2 and, per
   layer l, the block F_l = E_x g_l(x) g_l(x)^T (interactions inside a layer).
2. Mask search under the budget (the number of heads kept, as for every other criterion): the kept set maximising
   the total kept diagonal Fisher = the top heads by I_h (``ffn=true``, joint head + FFN-neuron search under a
   FLOPs budget, is not built: hpbench does not prune FFN neurons).
3. Rearrangement per layer, with the layer's counts fixed: the pruned set P minimising 1_P^T F_l 1_P (the
   quadratic estimate of the loss increase of removing P together); exhaustive where C(H, |P|) <= 20,000, else
   greedy swaps (a pruned and a kept head) from the search's P while one lowers the objective.
4. Mask tuning (:mod:`hpbench.recovery.mask_tuning`): kept heads rescaled by least squares so each layer's output
   matches the unpruned model's on the sample; the rescaled weights are evaluated with the mask.
"""
from __future__ import annotations

import itertools
import math
import time

import torch

from ..recovery.mask_tuning import head_gram, tune_mask
from .base import MaskResult, ScoringContext, register_criterion
from .stats import head_stats

EXHAUSTIVE_LIMIT = 20_000


def search_topk(fisher: torch.Tensor, n_prune: int) -> torch.Tensor:
    """Keep mask maximising the summed diagonal Fisher of the kept heads with ``n_prune`` pruned (ties by index)."""
    flat = fisher.flatten().double()
    order = torch.sort(-flat, stable=True).indices
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[order[: flat.numel() - n_prune]] = True
    return keep.view_as(fisher)


def pruned_cost(block: torch.Tensor, pruned: list[int]) -> float:
    """1_P^T F 1_P for the pruned heads ``pruned`` of one layer's Fisher block ``F``."""
    if not pruned:
        return 0.0
    idx = torch.tensor(pruned)
    return float(block[idx][:, idx].sum())


def rearrange_layer(block: torch.Tensor, keep_row: torch.Tensor) -> torch.Tensor:
    """The layer's keep row with the same count minimising :func:`pruned_cost` (exhaustive when small, else greedy
    swaps from ``keep_row``); never worse than ``keep_row``."""
    H = keep_row.numel()
    k = int((~keep_row).sum())
    if k in (0, H):
        return keep_row.clone()
    if math.comb(H, k) <= EXHAUSTIVE_LIMIT:
        best = min(itertools.combinations(range(H), k), key=lambda p: (pruned_cost(block, list(p)), p))
        pruned = list(best)
    else:
        pruned = (~keep_row).nonzero().flatten().tolist()
        cost, improved = pruned_cost(block, pruned), True
        while improved:
            improved = False
            for i, j in itertools.product(list(pruned), [h for h in range(H) if h not in pruned]):
                cand = [j if p == i else p for p in pruned]
                c = pruned_cost(block, cand)
                if c < cost - 1e-15:
                    pruned, cost, improved = cand, c, True
                    break
    out = torch.ones(H, dtype=torch.bool)
    out[pruned] = False
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
               ffn: bool = False) -> MaskResult:
    st, data, fisher_s = _fisher(ctx, n)
    info = {"kwon_n": st.n_examples, "kwon_fisher_seconds": fisher_s}
    if tune:  # one Gram pass serves every level (its time reported once)
        gram, info["kwon_gram_seconds"] = ctx.remember(("kwon_gram", n), lambda: _timed(
            lambda: head_gram(ctx.model, data, ctx.batch_size, ctx.pad_id)))
    t0 = time.perf_counter()
    keep = search_topk(st.fisher, n_prune)
    if rearrange_masks:
        keep = rearrange(st.fisher_block, keep)
    model = tune_mask(ctx.model, keep, gram)[0] if tune and n_prune > 0 else None
    info["kwon_mask_seconds"] = time.perf_counter() - t0  # this level's search, rearrangement, tuning (summed)
    return MaskResult(keep, model, info)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def check_kwon(n: int = 2048, rearrange_masks: bool = True, tune: bool = True, ffn: bool = False) -> None:
    if n < 1:
        raise ValueError(f"kwon: n={n} must be >= 1 (training examples for the Fisher and the tuning)")
    if ffn:
        raise ValueError("kwon: ffn=true (joint head and FFN-neuron search under a FLOPs budget) is not built: "
                         "hpbench prunes attention heads only; allowed: ffn=false")


@register_criterion("kwon", mask_fn=_kwon_mask, check=check_kwon)
def kwon(ctx: ScoringContext, n: int = 2048, rearrange_masks: bool = True, tune: bool = True,
         ffn: bool = False) -> torch.Tensor:
    """Kwon et al. 2022 retraining-free pipeline: Fisher search, per-layer rearrangement, mask tuning (heads only).

    The head-map score is the diagonal Fisher on the sample."""
    return _fisher(ctx, n)[0].fisher
