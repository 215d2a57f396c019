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
    entropy_norm: mean over examples of the length-normalised attention entropy of the HIES paper (Choi et al.
        2026, v2), AE_h(x) = 1 / (n log n) sum_t H_ht over the n non-padding tokens, in [0, 1] whatever the
        length (0 for a one-token example, whose only attention is to itself).
    """

    his: torch.Tensor
    his_batch: torch.Tensor
    entropy: torch.Tensor
    n_examples: int
    n_tokens: int
    seconds: float
    entropy_norm: torch.Tensor | None = None
    fisher: torch.Tensor | None = None  # E_x (dL(x)/d xi_h)^2: the diagonal Fisher information of the gates
    fisher_block: torch.Tensor | None = None  # [L, H, H]: E_x g_l(x) g_l(x)^T, the Fisher within each layer


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


def normalised_entropy(ent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, H] per-example mean entropies (:func:`attention_entropy`) divided by log n, n the example's
    non-padding tokens (``mask`` [B, T]): the HIES paper's AE, in [0, 1]; 0 where n = 1."""
    log_n = mask.sum(-1, keepdim=True).to(ent.dtype).log()
    return torch.where(log_n > 0, ent / log_n.clamp(min=1e-12), torch.zeros_like(ent))


def query_mask(batch: dict, n_positions: int) -> torch.Tensor:
    """[B, T]: 1 for real tokens (the attention mask); all ones for inputs without one (image patches)."""
    if "attention_mask" in batch:
        return batch["attention_mask"]
    return torch.ones(len(batch["labels"]), n_positions, dtype=torch.long)


def scoring_passes(device: torch.device, passes: str = "auto") -> str:
    """``"joint"`` (one eager pass: gradients and attention probabilities together) or ``"split"`` (a gradient
    pass through the model's own attention kernel, sdpa/flash, plus a no-grad eager pass for entropy).
    ``"auto"``: split on accelerators, where materialising [B, H, T, T] probabilities for the backward costs
    more than a second forward; joint on a CPU, where the eager pass is as fast as sdpa and one pass is cheaper."""
    if passes not in ("auto", "joint", "split"):
        raise ValueError(f"passes {passes!r} is not one of 'auto', 'joint', 'split'")
    if passes == "auto":
        return "joint" if torch.device(device).type == "cpu" else "split"
    return passes


@dataclass
class _Sums:
    his: torch.Tensor
    his_b: torch.Tensor
    ent: torch.Tensor
    ent_norm: torch.Tensor
    fisher: torch.Tensor
    fisher_block: torch.Tensor


def _one_pass(model, task: Task, bl: list[dict], base: torch.Tensor, sums: _Sums, *, gradients: bool, entropy: bool,
              impl: str, precision: str, desc: str) -> None:
    """Add one pass over the batches ``bl`` to ``sums``: per-example gate gradients (``gradients``) and/or
    attention entropies (``entropy``, needs ``impl="eager"``), the gates set to ``base`` in both."""
    L, H = base.shape
    device, acc = base.device, sums.his.dtype
    with frozen(model), attn_implementation(model, impl), HeadGates(model) as hg:
        for b in tqdm(bl, desc=desc, leave=False):
            B = len(b["labels"])
            g = base.expand(B, L, H).clone().requires_grad_(gradients)
            hg.gates = g
            with torch.set_grad_enabled(gradients), autocast(device, precision):
                out = model(**model_inputs(b, device), output_attentions=entropy)
            if gradients:
                losses = task.loss_per_example(out.logits.float(), b["labels"].to(device))
                (grad,) = torch.autograd.grad(losses.sum(), g)
                sums.his += grad.abs().sum(0).to(acc)
                sums.fisher += grad.to(acc).pow(2).sum(0)
                sums.fisher_block += torch.einsum("blh,blk->lhk", grad.to(acc), grad.to(acc))
                sums.his_b += grad.sum(0).abs().to(acc) / B
            if entropy:
                m = query_mask(b, out.attentions[0].shape[-2]).to(device)
                for layer, probs in enumerate(out.attentions):
                    e = attention_entropy(probs.detach(), m)
                    sums.ent[layer] += e.sum(0).to(acc)
                    sums.ent_norm[layer] += normalised_entropy(e, m).sum(0).to(acc)


def head_stats(model, task: Task, encoded: Sequence[dict], *, batch_size: int = 32, keep: torch.Tensor | None = None,
               gradients: bool = True, entropy: bool = True, pad_id: int = 0, precision: str = "fp32",
               desc: str = "scoring heads", passes: str = "auto") -> HeadStats:
    """HIS and attention entropy of every head, on the model's device.

    ``passes`` (:func:`scoring_passes`): one eager forward(+backward) per batch giving both, or a gradient pass
    with the model's own attention kernel and a no-grad eager pass for entropy; both give the same statistics.
    ``keep`` ([L, H] bool/float) gates the model with the current mask (iterative pruning re-scores
    under it). Batches are length-bucketed so they carry little padding. ``precision`` autocasts the
    forward; the gates, their gradients and the running sums stay in fp32/fp64 and on the device (one
    transfer at the end, no synchronisation per batch).
    """
    L, H = head_shape(model)
    device = model_device(model)
    acc_dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    sums = _Sums(*(torch.zeros(L, H, dtype=acc_dtype, device=device) for _ in range(5)),
                 torch.zeros(L, H, H, dtype=acc_dtype, device=device))
    base = (torch.ones(L, H) if keep is None else torch.as_tensor(keep).float()).to(device)
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    bl = list(batches(encoded, batch_size, bucket=True, pad_id=pad_id))
    own = model.config._attn_implementation
    kw = {"precision": precision, "desc": desc}
    if scoring_passes(device, passes) == "joint" or not (gradients and entropy):
        _one_pass(model, task, bl, base, sums, gradients=gradients, entropy=entropy,
                  impl="eager" if entropy else own, **kw)
    else:
        _one_pass(model, task, bl, base, sums, gradients=True, entropy=False, impl=own, **kw)
        _one_pass(model, task, bl, base, sums, gradients=False, entropy=True, impl="eager", **kw)
    model.train(was_training)
    n = sum(len(b["labels"]) for b in bl)
    if n == 0:
        raise ValueError("no scoring examples")
    n_tok = sum(int(query_mask(b, 0).sum()) for b in bl)  # (0 for inputs without an attention mask)
    return HeadStats(his=(sums.his / n).float().cpu(), his_batch=(sums.his_b / max(1, len(bl))).float().cpu(),
                     entropy=(sums.ent / n).float().cpu(), n_examples=n, n_tokens=n_tok, seconds=time.perf_counter() - t0,
                     entropy_norm=(sums.ent_norm / n).float().cpu(), fisher=(sums.fisher / n).float().cpu(),
                     fisher_block=(sums.fisher_block / n).double().cpu())
