"""DSP: differentiable subset pruning (Li, Cotterell, Sachan, TACL 9, 2021; arXiv 2108.04657).

One logit w_h per head; K = number of heads KEPT (a hard constraint). Gumbel-soft-top-K
(Xie and Ermon 2019): r = w + Gumbel noise, p_1 = softmax(r / tau), and for j = 2..K
r <- r + log(max(1 - p_(j-1), eps)), p_j = softmax(r / tau); the soft mask m = sum_j p_j sums
to K and scales each head's attention output. The straight-through variant uses the hard top-K
of r in the forward pass and the soft mask's gradient backward. The temperature anneals
log-linearly from tau_0 to tau_f over the steps. Logits and model have separate learning rates
(paper: 0.5 and 2e-5). At the end the mask is the hard top-K of w.

Two settings (``mode``): ``"pipelined"`` learns the logits on the fine-tuned model with its weights
frozen; ``"joint"`` trains the (fine-tuned) model weights together with the logits on a copy
(hpbench starts joint from the fine-tuned checkpoint, not the pretrained one, so it plugs into the
same prune-after-fine-tune sweep; say so when comparing with the paper). Step counts are scaled
down for CPU runs (paper: 25,000 joint / 8,333 pipelined steps, tau 1000 -> 1e-8).
"""
from __future__ import annotations

import copy
import math
import time

import torch

from ..batching import batches, model_inputs
from ..criteria import ScoringContext, register_criterion
from ..heads import HeadGates


def gumbel_soft_topk(w: torch.Tensor, k: int, tau: float, *, noise: torch.Tensor | None = None,
                     eps: float = 1e-20, hard: bool = False) -> torch.Tensor:
    """Relaxed K-hot vector over the entries of ``w`` (1-D); sums to ``k``. ``hard``: straight-through top-K."""
    n = w.numel()
    if not 0 <= k <= n:
        raise ValueError(f"k={k} outside [0, {n}] (number of heads kept)")
    r = w + (noise if noise is not None else torch.zeros_like(w))
    soft = torch.zeros_like(w)
    if k == 0:
        return soft
    p = None
    for _ in range(k):
        if p is not None:
            r = r + torch.log(torch.clamp(1.0 - p, min=eps))
        p = torch.softmax(r / tau, dim=-1)
        soft = soft + p
    if not hard:
        return soft
    top = torch.topk((w + (noise if noise is not None else 0)).detach(), k).indices
    hard_mask = torch.zeros_like(w).scatter(0, top, 1.0)
    return hard_mask + (soft - soft.detach())  # exact hard values forward, soft gradient backward


def sample_gumbel(shape, generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(shape, generator=generator).clamp(1e-10, 1 - 1e-10)
    return -torch.log(-torch.log(u))


def tau_at(step: int, total: int, tau0: float, tauf: float) -> float:
    """Log-linear annealing tau0 -> tauf over ``total`` steps, then constant."""
    if total <= 1 or step >= total - 1:
        return tauf if step >= max(total - 1, 0) else tau0
    return math.exp(math.log(tau0) + (math.log(tauf) - math.log(tau0)) * step / (total - 1))


def learn_subset(model, loss_fn, data, k: int, *, steps: int, seed: int, tau0: float = 10.0, tauf: float = 0.05,
                 lr_logits: float = 0.5, lr_model: float = 0.0, straight_through: bool = False, batch_size: int = 32,
                 pad_id: int = 0, init: torch.Tensor | None = None) -> tuple[torch.Tensor, list[float]]:
    """Learn head logits w (and, if ``lr_model > 0``, the model) so that the K-head soft mask minimises
    ``loss_fn(model, batch, gates)``; returns (w, losses). Shared by DSP (task loss) and SMP (representation loss)."""
    L, H = model.config.num_hidden_layers, model.config.num_attention_heads
    g = torch.Generator().manual_seed(seed)
    w = (init.clone().float().flatten() if init is not None else torch.zeros(L * H)).requires_grad_(True)
    params = [{"params": [w], "lr": lr_logits}]
    train_model = lr_model > 0
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(train_model)
    if train_model:
        params.append({"params": [p for p in model.parameters()], "lr": lr_model})
    opt = torch.optim.Adam(params)
    losses: list[float] = []
    model.train(train_model)
    step = 0
    try:
        with HeadGates(model) as hg:
            while step < steps:
                for b in batches(data, batch_size, shuffle=True, seed=seed * 997 + step, pad_id=pad_id):
                    if step >= steps:
                        break
                    tau = tau_at(step, steps, tau0, tauf)
                    mask = gumbel_soft_topk(w, k, tau, noise=sample_gumbel(w.shape, g), hard=straight_through)
                    hg.gates = mask.view(L, H)
                    loss = loss_fn(model, b, hg)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    losses.append(loss.item())
                    step += 1
                if not data:
                    break
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)
        model.eval()
    return w.detach().view(L, H), losses


def hard_topk_mask(w: torch.Tensor, k: int) -> torch.Tensor:
    """Keep mask of the K largest logits (ties by index)."""
    flat = w.flatten()
    order = torch.sort(-flat, stable=True).indices
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[order[:k]] = True
    return keep.view_as(w)


def _dsp_mask(ctx: ScoringContext, n_prune: int, mode: str = "pipelined", steps: int = 40, tau0: float = 10.0,
              tauf: float = 0.05, lr_logits: float = 0.5, lr_model: float = 2e-5, straight_through: bool = False) -> torch.Tensor:
    if mode not in ("pipelined", "joint"):
        raise ValueError(f"dsp: unknown mode {mode!r}; allowed: 'pipelined', 'joint'")
    L, H = ctx.shape
    k = L * H - n_prune
    if n_prune == 0:
        return torch.ones(L, H, dtype=torch.bool)
    if ("dsp_logits", n_prune) in ctx._stats:  # already learned (e.g. for the head map)
        return hard_topk_mask(ctx._stats[("dsp_logits", n_prune)], k)
    model = ctx.model if mode == "pipelined" else copy.deepcopy(ctx.model)
    task, dev = ctx.task, next(ctx.model.parameters()).device

    def loss_fn(m, b, gates):
        return task.loss_per_example(m(**model_inputs(b, dev)).logits.float(), b["labels"].to(dev)).mean()

    t0 = time.perf_counter()
    w, losses = learn_subset(model, loss_fn, ctx.encoded, k, steps=steps, seed=ctx.seed * 31 + n_prune, tau0=tau0,
                             tauf=tauf, lr_logits=lr_logits, lr_model=lr_model if mode == "joint" else 0.0,
                             straight_through=straight_through, batch_size=ctx.batch_size, pad_id=ctx.pad_id)
    ctx.info["training_steps"] = ctx.info.get("training_steps", 0) + steps
    ctx.info["train_seconds"] = ctx.info.get("train_seconds", 0.0) + time.perf_counter() - t0
    if mode == "joint":  # the jointly trained weights belong to this mask: keep them for evaluation
        ctx.extras.setdefault("models_for_mask", {})[n_prune] = model
    ctx._stats[("dsp_logits", n_prune)] = w
    return hard_topk_mask(w, k)


@register_criterion("dsp", mask_fn=_dsp_mask)
def dsp(ctx: ScoringContext, mode: str = "pipelined", steps: int = 40, tau0: float = 10.0, tauf: float = 0.05,
        lr_logits: float = 0.5, lr_model: float = 2e-5, straight_through: bool = False) -> torch.Tensor:
    """Differentiable subset pruning: Gumbel-soft-top-K head logits learned under an exact K-heads-kept constraint.

    The head-map score is the logits learned at 50 % sparsity (each level learns its own logits)."""
    L, H = ctx.shape
    n = (L * H) // 2
    if ("dsp_logits", n) not in ctx._stats:
        _dsp_mask(ctx, n, mode, steps, tau0, tauf, lr_logits, lr_model, straight_through)
    return ctx._stats[("dsp_logits", n)]
