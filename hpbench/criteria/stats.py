"""One pass over scoring data that yields every per-head statistic the criteria need.

For each batch: per-example gates ``xi`` of shape [B, L, H] (all ones, or the current keep mask) are
made leaves with ``requires_grad``; the model's own weights are frozen, so the backward pass
computes activation gradients only (no weight gradients). With ``L = sum_x L(x)``,
``dL/d xi[x]`` is example x's own gate gradient, so ``E_x |dL(x)/d xi_h|`` (Michel et al. 2019)
comes out of one backward per batch. Attention entropy is reduced on the fly from the same forward.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ..core.device import autocast, model_device
from ..models.heads import HeadGates, head_shape
from ..tasks.encoding import batches, model_inputs
from ..tasks.spec import Task


@dataclass
class HeadStats:
    """Per-head statistics, each ``[layers, heads]``.

    his: E_x |dL(x)/d xi_h| (per-example absolute value; Michel et al. 2019).
    his_batch: mean over batches of |dL(batch)/d xi_h| (the bertology estimator with batch > 1).
    entropy: mean over examples of the mean over non-padding queries i of
        H_hi = -sum_j p_hij log p_hij (non-padding keys j; nats).
    """

    his: torch.Tensor
    his_batch: torch.Tensor
    entropy: torch.Tensor
    n_examples: int
    n_tokens: int
    seconds: float


@contextmanager
def frozen(model):
    """Temporarily set ``requires_grad=False`` on every parameter."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)


@contextmanager
def attn_implementation(model, impl: str):
    old = model.config._attn_implementation
    if old == impl:
        yield model
        return
    model.set_attn_implementation(impl)
    try:
        yield model
    finally:
        model.set_attn_implementation(old)


def attention_entropy(probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-example, per-head mean entropy over non-padding queries.

    probs: [B, H, T, T] attention probabilities (rows sum to 1 over keys, 0 on padding keys);
    mask: [B, T] 1 for real tokens. Returns [B, H]: sum_i m_i H_hi / sum_i m_i.
    """
    ent = torch.special.entr(probs.float()).sum(-1)  # [B, H, T]; entr(0) = 0
    m = mask.to(ent.dtype)[:, None, :]
    return (ent * m).sum(-1) / m.sum(-1).clamp(min=1)


def query_mask(batch: dict, n_positions: int) -> torch.Tensor:
    """[B, T]: 1 for real tokens (the attention mask); all ones for inputs without one (image patches)."""
    if "attention_mask" in batch:
        return batch["attention_mask"]
    return torch.ones(len(batch["labels"]), n_positions, dtype=torch.long)


def head_stats(model, task: Task, encoded: Sequence[dict], *, batch_size: int = 32, keep: torch.Tensor | None = None,
               gradients: bool = True, entropy: bool = True, pad_id: int = 0, precision: str = "fp32",
               desc: str = "scoring heads") -> HeadStats:
    """HIS and attention entropy of every head in one forward(+backward) pass per batch, on the model's device.

    ``keep`` ([L, H] bool/float) gates the model with the current mask (iterative pruning re-scores
    under it). Batches are length-bucketed so they carry little padding. ``precision`` autocasts the
    forward; the gates, their gradients and the running sums stay in fp32/fp64 and on the device (one
    transfer at the end, no synchronisation per batch).
    """
    L, H = head_shape(model)
    device = model_device(model)
    acc_dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    his, his_b, ent = (torch.zeros(L, H, dtype=acc_dtype, device=device) for _ in range(3))
    base = (torch.ones(L, H) if keep is None else torch.as_tensor(keep).float()).to(device)
    n, n_tok, n_batches = 0, 0, 0
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    impl = "eager" if entropy else model.config._attn_implementation
    with frozen(model), attn_implementation(model, impl), HeadGates(model) as hg:
        for b in tqdm(list(batches(encoded, batch_size, bucket=True, pad_id=pad_id)), desc=desc, leave=False):
            B = len(b["labels"])
            g = base.expand(B, L, H).clone().requires_grad_(gradients)
            hg.gates = g
            with torch.set_grad_enabled(gradients), autocast(device, precision):
                out = model(**model_inputs(b, device), output_attentions=entropy)
            if gradients:
                losses = task.loss_per_example(out.logits.float(), b["labels"].to(device))
                (grad,) = torch.autograd.grad(losses.sum(), g)
                his += grad.abs().sum(0).to(acc_dtype)
                his_b += grad.sum(0).abs().to(acc_dtype) / B
            m_host = query_mask(b, out.attentions[0].shape[-2] if entropy else 0)
            m = m_host.to(device)
            if entropy:
                for layer, probs in enumerate(out.attentions):
                    ent[layer] += attention_entropy(probs.detach(), m).sum(0).to(acc_dtype)
            n += B
            n_tok += int(m_host.sum())
            n_batches += 1
    model.train(was_training)
    if n == 0:
        raise ValueError("no scoring examples")
    return HeadStats(his=(his / n).float().cpu(), his_batch=(his_b / max(1, n_batches)).float().cpu(),
                     entropy=(ent / n).float().cpu(), n_examples=n, n_tokens=n_tok, seconds=time.perf_counter() - t0)
