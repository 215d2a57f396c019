"""Kwon et al. 2022 as released (``WoosukKwon/retraining-free-pruning`` @ 806ac5a): everything before mask tuning.

* :func:`minibatch_grads` (``prune/fisher.py: collect_mask_grads``): per mini-batch b of 32 examples, taken in the
  sample's order, g_b = d(mean_{i in b} loss_i)/dm at m = 1 for the head masks ``[L, H]`` and the FFN neuron masks
  ``[L, N]``; the Fisher is I = sum_b g_b^2 (``compute_fisher_info``), about mu^2 + sigma^2/32 per example, not the
  per-example E_x g^2 of :mod:`hpbench.criteria.fisher`-style scores.
* :func:`search_mac` (``prune/search.py: search_mac``): MACs per head 3 s d d_h + 2 s^2 d_h + s d_h d and per neuron
  2 s d (``efficiency/mac.py``) at the task's average length s; for every count of kept heads h >= 1 the top-h heads
  and as many top neurons as the rest of the MAC budget pays for; the largest kept Fisher wins.
* :func:`greedy_rearrange` (``prune/rearrange.py``): per layer, with the layer's count fixed, start from its
  lowest-Fisher units; each other unit in ascending Fisher order joins the pruned set P and the unit whose removal
  leaves the smallest ||sum_{m in P} g_m||^2 over mini-batches leaves (the quadratic estimate 1_P^T F 1_P of the loss
  increase of removing P together, F = sum_b g_b g_b^T).
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..core.device import autocast, model_device
from ..models.ffn import NeuronGates, ffn_shape
from ..models.heads import HeadGates, head_shape
from ..tasks.encoding import batches, model_inputs
from .stats import frozen

SAMPLE_BATCH = 32  # main.py: sample_batch_size for GLUE (BERT-base)


@dataclass
class MaskGrads:
    """Per-mini-batch gradients of the batch-mean loss w.r.t. the head masks ``[B, L, H]`` and the neuron masks
    ``[B, L, N]`` (None without an FFN map), float64, on ``n_examples`` examples."""

    head: torch.Tensor
    neuron: torch.Tensor | None
    n_examples: int
    seconds: float

    @property
    def head_fisher(self) -> torch.Tensor:
        return self.head.pow(2).sum(0)

    @property
    def neuron_fisher(self) -> torch.Tensor:
        return self.neuron.pow(2).sum(0)


def minibatch_grads(model, task, encoded, *, batch_size: int = SAMPLE_BATCH, pad_id: int = 0, precision: str = "fp32",
                    neurons: bool = True, desc: str = "kwon: mask gradients") -> MaskGrads:
    """:class:`MaskGrads` of ``model`` over ``encoded`` in order (no length bucketing: the mini-batches are the
    released DataLoader's, unshuffled); weights frozen, one forward and backward per mini-batch."""
    (L, H) = head_shape(model)
    N = ffn_shape(model)[1] if neurons else 0
    device = model_device(model)
    hg_out, ng_out, n, t0, was_training = [], [], 0, time.perf_counter(), model.training
    model.eval()
    with frozen(model), HeadGates(model) as hg, (NeuronGates(model) if neurons else nullcontext()) as ng:
        for b in tqdm(list(batches(encoded, batch_size, bucket=False, pad_id=pad_id)), desc=desc, leave=False):
            gh = torch.ones(L, H, device=device, requires_grad=True)
            hg.gates, wrt = gh, [gh]
            if neurons:
                gn = torch.ones(L, N, device=device, requires_grad=True)
                ng.gates = gn
                wrt.append(gn)
            with autocast(device, precision):
                out = model(**model_inputs(b, device))
            loss = task.loss_per_example(out.logits.float(), b["labels"].to(device)).mean()
            grads = torch.autograd.grad(loss, wrt)
            hg_out.append(grads[0].detach().double().cpu())
            if neurons:
                ng_out.append(grads[1].detach().double().cpu())
            n += len(b["labels"])
    model.train(was_training)
    if n == 0:
        raise ValueError("kwon: no examples for the mask gradients")
    return MaskGrads(torch.stack(hg_out), torch.stack(ng_out) if neurons else None, n, time.perf_counter() - t0)


def keep_top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Keep mask of the ``k`` highest ``scores`` (ties by index)."""
    flat = scores.flatten().double()
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[torch.sort(-flat, stable=True).indices[:k]] = True
    return keep.view_as(scores)


def mac_per_head(seq: float, hidden: int, head_size: int) -> float:
    """``efficiency/mac.py``: Q, K, V projections, scores and context, output projection of one head."""
    return 3 * seq * hidden * head_size + 2 * seq * seq * head_size + seq * head_size * hidden


def mac_per_neuron(seq: float, hidden: int) -> float:
    return 2 * seq * hidden


def search_mac(head_fisher: torch.Tensor, neuron_fisher: torch.Tensor, seq: float, hidden: int, head_size: int,
               constraint: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(head keep ``[L, H]``, neuron keep ``[L, N]``) of the released ``search_mac`` at MAC ``constraint`` (the share of
    the dense heads + FFN MACs kept, in (0, 1)); see the module docstring. One difference: where the heads alone
    exceed the budget the released loop slices the neurons with a negative count (all but a few: a mask far over
    budget, reached below the attention's MAC share, ~0.34 for BERT-base at MNLI's length, outside the paper's
    range); such head counts are skipped here, as the released ``search_latency`` skips them."""
    if not 0.0 < constraint < 1.0:
        raise ValueError(f"kwon: MAC constraint {constraint!r} must lie in (0, 1) (the share of MACs kept)")
    (L, H), (_, N) = head_fisher.shape, neuron_fisher.shape
    mh, mn = mac_per_head(seq, hidden, head_size), mac_per_neuron(seq, hidden)
    max_mac = constraint * L * (H * mh + N * mn)
    hs = torch.sort(head_fisher.flatten().double(), descending=True, stable=True).values.cumsum(0)
    ns = torch.cat([torch.zeros(1, dtype=torch.float64),
                    torch.sort(neuron_fisher.flatten().double(), descending=True, stable=True).values.cumsum(0)])
    best, chosen = 0.0, None
    for h in range(1, L * H + 1):
        k = int((max_mac - mh * h) / mn)  # int() truncates toward zero, as released
        if k < 0:
            continue
        total = float(hs[h - 1] + ns[min(k, L * N)])
        if total > best:
            best, chosen = total, (h, min(k, L * N))
    if chosen is None:
        raise ValueError(f"kwon: no mask within a MAC constraint of {constraint} has positive Fisher information")
    return keep_top(head_fisher, chosen[0]), keep_top(neuron_fisher, chosen[1])


def greedy_rearrange(keep: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """One layer's keep row after the released greedy pass (module docstring); ``grads`` ``[mini-batches, units]``."""
    keep = keep.bool()
    n_pruned = int((~keep).sum())
    if n_pruned in (0, keep.numel()):
        return keep.clone()
    g = grads.double().T.contiguous()  # [units, mini-batches]
    order = torch.argsort(g.pow(2).sum(1), stable=True).tolist()
    masked = order[:n_pruned]
    for index in order[n_pruned:]:
        masked.append(index)
        vecs = g[masked]
        complement = vecs.sum(0) - vecs
        del masked[int(torch.argmin(complement.pow(2).sum(1)))]
    out = torch.ones_like(keep)
    out[masked] = False
    return out


def rearrange(keep: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """``prune/rearrange.py: rearrange_mask``: :func:`greedy_rearrange` in every layer (``grads`` ``[B, L, U]``)."""
    return torch.stack([greedy_rearrange(keep[l], grads[:, l, :]) for l in range(keep.shape[0])])
