"""Kwon et al. 2022 with FFN neurons (``kwon:ffn=true``, the paper's setting): heads and FFN neurons pruned
together under a FLOPs budget. The pieces the heads-only pipeline (:mod:`hpbench.criteria.kwon`) lacks:

* :func:`gate_fisher`: per-example gradients of the loss w.r.t. head gates and neuron gates (both at 1) in one
  backward per batch; diagonal Fisher I = E_x g(x)^2 and each layer's block E_x g_l(x) g_l(x)^T, for heads and
  neurons.
* :func:`search_flops`: maximise the kept diagonal Fisher subject to FLOPs(m) <= budget. Every head costs c_h and
  every neuron c_n FLOPs (:func:`hpbench.models.flops.unit_flops`), so for each number of kept heads h the best
  choice is the top-h heads and as many top neurons as the rest of the budget pays for; the best h wins (the
  paper's ``search_mac``, which is therefore the exact optimum).
* :func:`greedy_rearrange`: the paper's greedy per-layer rearrangement for large layers (neurons): from the
  searched pruned set P, each kept unit in ascending Fisher order joins P and the unit whose removal leaves the
  smallest 1_P^T F 1_P leaves; never worse than where it started.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ..core.device import autocast, model_device
from ..models.ffn import NeuronGates, ffn_shape
from ..models.heads import HeadGates, head_shape
from ..tasks.encoding import batches, model_inputs
from .stats import frozen


@dataclass
class GateFisher:
    """Diagonal and per-layer block Fisher of the head gates ``[L, H]``, ``[L, H, H]`` and the neuron gates
    ``[L, N]``, ``[L, N, N]`` (float64), on ``n_examples`` examples."""

    head: torch.Tensor
    head_block: torch.Tensor
    neuron: torch.Tensor
    neuron_block: torch.Tensor
    n_examples: int
    seconds: float


def gate_fisher(model, task, encoded: Sequence[dict], *, batch_size: int = 32, pad_id: int = 0,
                precision: str = "fp32", desc: str = "kwon: Fisher (heads, neurons)") -> GateFisher:
    """:class:`GateFisher` of ``model`` on ``encoded`` (one forward and backward per batch; weights frozen)."""
    (L, H), (_, N) = head_shape(model), ffn_shape(model)
    device = model_device(model)
    acc = torch.float32 if device.type == "mps" else torch.float64
    hd, hb = torch.zeros(L, H, dtype=acc, device=device), torch.zeros(L, H, H, dtype=acc, device=device)
    nd, nb = torch.zeros(L, N, dtype=acc, device=device), torch.zeros(L, N, N, dtype=acc, device=device)
    t0, n, was_training = time.perf_counter(), 0, model.training
    model.eval()
    with frozen(model), HeadGates(model) as hg, NeuronGates(model) as ng:
        for b in tqdm(list(batches(encoded, batch_size, bucket=True, pad_id=pad_id)), desc=desc, leave=False):
            B = len(b["labels"])
            gh = torch.ones(B, L, H, device=device, requires_grad=True)
            gn = torch.ones(B, L, N, device=device, requires_grad=True)
            hg.gates, ng.gates = gh, gn
            with autocast(device, precision):
                out = model(**model_inputs(b, device))
            losses = task.loss_per_example(out.logits.float(), b["labels"].to(device))
            dh, dn = (g.to(acc) for g in torch.autograd.grad(losses.sum(), (gh, gn)))
            hd += dh.pow(2).sum(0)
            nd += dn.pow(2).sum(0)
            hb += torch.einsum("blh,blk->lhk", dh, dh)
            nb += torch.einsum("bln,blm->lnm", dn, dn)
            n += B
    model.train(was_training)
    if n == 0:
        raise ValueError("kwon: no examples for the Fisher")
    return GateFisher(*(t.cpu().double() / n for t in (hd, hb, nd, nb)), n, time.perf_counter() - t0)


def keep_top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Keep mask of the ``k`` highest ``scores`` (ties by index)."""
    flat = scores.flatten().double()
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[torch.sort(-flat, stable=True).indices[:k]] = True
    return keep.view_as(scores)


def search_flops(head: torch.Tensor, neuron: torch.Tensor, head_cost: int, neuron_cost: int, budget: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(head keep ``[L, H]``, neuron keep ``[L, N]``) maximising the summed kept Fisher with
    ``heads kept * head_cost + neurons kept * neuron_cost <= budget`` (module docstring; ties: fewer heads)."""
    hs = torch.cat([torch.zeros(1, dtype=torch.float64), torch.sort(head.flatten().double(), descending=True).values.cumsum(0)])
    ns = torch.cat([torch.zeros(1, dtype=torch.float64), torch.sort(neuron.flatten().double(), descending=True).values.cumsum(0)])
    best = None
    for h in range(head.numel() + 1):
        rest = budget - h * head_cost
        if rest < 0:
            break
        k = min(neuron.numel(), rest // neuron_cost)
        if best is None or float(hs[h] + ns[k]) > best[0]:
            best = (float(hs[h] + ns[k]), h, k)
    if best is None:
        raise ValueError(f"kwon: a FLOPs budget of {budget} pays for nothing (a head costs {head_cost}, a neuron {neuron_cost})")
    return keep_top(head, best[1]), keep_top(neuron, best[2])


def greedy_rearrange(block: torch.Tensor, keep_row: torch.Tensor) -> torch.Tensor:
    """The layer's keep row with the same count after the paper's greedy pass (module docstring) on the block
    Fisher ``block``; with r_i = Σ_{m∈P} F_im, removing i from P costs 1_P^T F 1_P − 2 r_i + F_ii."""
    inp = ~keep_row.clone().bool()
    if int(inp.sum()) in (0, inp.numel()):
        return keep_row.clone().bool()
    F = block.double()
    diag = F.diagonal()
    r = F[:, inp].sum(1)
    for j in [j for j in torch.argsort(diag, stable=True).tolist() if not inp[j]]:
        inp[j] = True
        r += F[:, j]
        idx = inp.nonzero().flatten()
        i = int(idx[torch.argmin(diag[idx] - 2 * r[idx])])
        inp[i] = False
        r -= F[:, i]
    return ~inp


def flops_budget(dense: int, sparsity: float) -> int:
    """The FLOPs a model pruned to ``sparsity`` (the share of FLOPs removed) may spend: floor((1 − s) dense)."""
    return int(math.floor((1.0 - sparsity) * dense + 1e-9))
