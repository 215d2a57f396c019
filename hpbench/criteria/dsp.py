"""DSP: differentiable subset pruning (Li, Cotterell, Sachan, TACL 9, 2021; arXiv 2108.04657), as its authors
released it (``rycolab/differentiable-subset-pruning`` @ de4fe02: ``gated_bert_utilities.py``, ``trainer_dsp.py``,
``modeling_gated_bert.py``, ``examples/pruning/run_dsp.py``, README).

One logit w_h per head, initialised Xavier-uniform over the [layers, heads] matrix in float64; K = heads KEPT.
Gumbel-soft-top-K (Xie and Ermon 2019): u ~ U(tiny, 1), r = w - log(-log u), p_1 = softmax(r / t), and for
j = 2..K r <- r + log(max(1 - p_(j-1), tiny)), p_j = softmax(r / t); the mask m = sum_j p_j multiplies each head's
output. The temperature falls log-linearly from t_0 = 1000 to t_f = 1e-8 over the cooldown,
t(s) = exp(log t_0 - s / cooldown (log t_0 - log t_f)) for s <= cooldown, then stays at t_f (so the mask ends as a hard
top-K of w + noise). The straight-through option (``straight_through=true``) is the released ``STEFunction``: the
forward mask is the hard top-K of w (no noise, no temperature), the backward pass the identity. Optimiser: AdamW
(betas 0.9 / 0.999, eps 1e-8, no weight decay), logits at lr 0.5, the model (joint) at 2e-5, both decayed linearly to
0 (the Trainer's default schedule), gradient norm clipped to 1.0; dropout on (the Trainer trains in train mode). At
the end the mask is the hard top-K of w.

``"pipelined"`` learns the logits on the fine-tuned model with its weights frozen; ``"joint"`` trains the model
weights too, on a copy (hpbench starts joint from the fine-tuned checkpoint, not the pretrained one, so it plugs into
the same prune-after-fine-tune sweep; say so when comparing with the paper). CPU budgets shorten the schedule but keep
its shape and end point: the cooldown is the released share of the steps (8,333 of the 12,272 steps of one MNLI epoch
at batch 32 pipelined; 25,000 of 36,816 joint: 0.68 both), the temperatures are the released ones. Every level reports
its steps (``training_steps``) and the run its cooldown (``dsp_cooldown_steps``).
"""
from __future__ import annotations

import copy
import math
import time

import torch

from ..core.device import autocast, grad_scaler, model_device
from ..models.heads import HeadGates, head_shape
from ..tasks.encoding import model_inputs, step_batches
from .base import MaskResult, ScoringContext, register_criterion


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
                 pad_id: int = 0, init: torch.Tensor | None = None, precision: str = "fp32") -> tuple[torch.Tensor, list[float]]:
    """Learn head logits w (and, if ``lr_model > 0``, the model) so that the K-head soft mask minimises
    ``loss_fn(model, batch, gates)``; returns (w on the CPU, losses). hpbench's own soft-top-K trainer, used by
    ``smp_distance`` (representation loss; DSP itself trains with :func:`learn_dsp`). Runs on the model's device; the
    Gumbel noise comes from a CPU generator, so
    a seed gives the same noise on every device."""
    L, H = head_shape(model)
    device = model_device(model)
    g = torch.Generator().manual_seed(seed)
    w = (init.clone().float().flatten() if init is not None else torch.zeros(L * H)).to(device).requires_grad_(True)
    train_model = lr_model > 0
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(train_model)
    params = [{"params": [w], "lr": lr_logits}] + ([{"params": list(model.parameters()), "lr": lr_model}] if train_model else [])
    opt, scaler = torch.optim.Adam(params), grad_scaler(precision, device)
    losses: list[torch.Tensor] = []
    model.train(train_model)
    try:
        with HeadGates(model) as hg:
            for step, b in step_batches(data, batch_size, steps, lambda s: seed * 997 + s, pad_id=pad_id):
                tau = tau_at(step, steps, tau0, tauf)
                noise = sample_gumbel(w.shape, g).to(device)
                hg.gates = gumbel_soft_topk(w, k, tau, noise=noise, hard=straight_through).view(L, H)
                with autocast(device, precision):
                    loss = loss_fn(model, b, hg).float()
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                losses.append(loss.detach())  # no host sync per step
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)
        model.eval()
    return w.detach().cpu().view(L, H), (torch.stack(losses).cpu().tolist() if losses else [])


TINY = torch.finfo(torch.double).tiny  # the released EPSILON
COOLDOWN_SHARE = 8333 / 12272  # released: cooldown steps / training steps (pipelined; joint 25,000 / 36,816 is the same)


def released_tau(step: int, cooldown: int, tau0: float = 1000.0, tauf: float = 1e-8) -> float:
    """The released temperature: log-linear from ``tau0`` at step 0 to ``tauf`` at ``cooldown``, ``tauf`` after."""
    if cooldown <= 0 or step > cooldown:
        return tauf
    return float(math.exp(math.log(tau0) - step / cooldown * (math.log(tau0) - math.log(tauf))))


def released_soft_top_k(w: torch.Tensor, k: int, t: float, u: torch.Tensor) -> torch.Tensor:
    """The released ``gumbel_soft_top_k`` (float64) with its uniform draws ``u`` given: sums to ``k``."""
    r = -torch.log(-torch.log(u)) + w
    eps = torch.full_like(r, TINY)
    p, total = None, torch.zeros_like(w)
    for _ in range(k):
        if p is not None:
            r = r + torch.log(torch.maximum(1 - p, eps))
        p = torch.exp(torch.nn.functional.log_softmax(r / t, 0))
        total = total + p
    return total


class StraightThroughTopK(torch.autograd.Function):
    """The released ``STEFunction``: forward the hard top-K of the logits, backward the identity."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, k: int) -> torch.Tensor:  # noqa: D102
        return hard_topk_mask(w.detach(), k).to(w.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return grad, None


def xavier_logits(L: int, H: int, generator: torch.Generator) -> torch.Tensor:
    """Xavier-uniform [L, H] logits in float64 (the released ``nn.init.xavier_uniform_`` on ``w``)."""
    bound = math.sqrt(6.0 / (L + H))
    return (torch.rand(L, H, generator=generator, dtype=torch.double) * 2 - 1) * bound


def learn_dsp(model, loss_fn, data, k: int, *, steps: int, seed: int, cooldown: int, tau0: float = 1000.0,
              tauf: float = 1e-8, lr_logits: float = 0.5, lr_model: float = 0.0, straight_through: bool = False,
              batch_size: int = 32, pad_id: int = 0, precision: str = "fp32", max_grad_norm: float = 1.0
              ) -> tuple[torch.Tensor, list[float]]:
    """DSP's released training loop (module docstring); returns (w [L, H] on the CPU, float64; the losses)."""
    L, H = head_shape(model)
    device = model_device(model)
    g = torch.Generator().manual_seed(seed)
    w = xavier_logits(L, H, g).flatten().to(device).requires_grad_(True)
    train_model = lr_model > 0
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(train_model)
    groups = [{"params": [w], "lr": lr_logits}] + ([{"params": list(model.parameters()), "lr": lr_model}] if train_model else [])
    opt = torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (steps - s) / max(steps, 1)))
    scaler, clipped = grad_scaler(precision, device), [w] + (list(model.parameters()) if train_model else [])
    losses: list[torch.Tensor] = []
    model.train()  # the released Trainer trains in train mode (dropout on), pipelined too
    try:
        with HeadGates(model) as hg:
            for step, b in step_batches(data, batch_size, steps, lambda s: seed * 997 + s, pad_id=pad_id):
                if straight_through:
                    m = StraightThroughTopK.apply(w, k)
                else:
                    u = (torch.rand(w.shape, generator=g, dtype=torch.double) * (1 - TINY) + TINY).to(device)
                    m = released_soft_top_k(w, k, released_tau(step, cooldown, tau0, tauf), u)
                hg.gates = m.float().view(L, H)
                with autocast(device, precision):
                    loss = loss_fn(model, b, hg).float()
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(clipped, max_grad_norm)
                scaler.step(opt)
                scaler.update()
                sched.step()
                losses.append(loss.detach())
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)
        model.eval()
    return w.detach().cpu().view(L, H), (torch.stack(losses).cpu().tolist() if losses else [])


def hard_topk_mask(w: torch.Tensor, k: int) -> torch.Tensor:
    """Keep mask of the K largest logits (ties by index)."""
    flat = w.flatten()
    order = torch.sort(-flat, stable=True).indices
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[order[:k]] = True
    return keep.view_as(w)


def _learn(ctx: ScoringContext, n_prune: int, mode: str, steps: int, tau0: float, tauf: float, lr_logits: float,
           lr_model: float, straight_through: bool) -> tuple[torch.Tensor, MaskResult]:
    """Learn the logits for ``n_prune`` heads pruned (memoised per level and setting): (logits, mask result)."""
    L, H = ctx.shape
    k = L * H - n_prune

    def run() -> tuple[torch.Tensor, MaskResult]:
        model = ctx.model if mode == "pipelined" else copy.deepcopy(ctx.model)
        task, dev = ctx.task, next(ctx.model.parameters()).device

        def loss_fn(m, b, gates):
            return task.loss_per_example(m(**model_inputs(b, dev)).logits.float(), b["labels"].to(dev)).mean()

        t0 = time.perf_counter()
        cooldown = round(COOLDOWN_SHARE * steps)
        w, _ = learn_dsp(model, loss_fn, ctx.encoded, k, steps=steps, seed=ctx.seed * 31 + n_prune, cooldown=cooldown,
                         tau0=tau0, tauf=tauf, lr_logits=lr_logits, lr_model=lr_model if mode == "joint" else 0.0,
                         straight_through=straight_through, batch_size=ctx.batch_size, pad_id=ctx.pad_id,
                         precision=ctx.precision)
        ctx.info["dsp_cooldown_steps"] = cooldown
        costs = {"training_steps": steps, "train_seconds": time.perf_counter() - t0}  # this level's training
        # joint: the weights trained together with this mask belong to it and are evaluated with it
        return w, MaskResult(hard_topk_mask(w, k), model if mode == "joint" else None, costs=costs)

    return ctx.remember(("dsp", n_prune, mode, steps, tau0, tauf, lr_logits, lr_model, straight_through), run)


def _dsp_mask(ctx: ScoringContext, n_prune: int, mode: str = "pipelined", steps: int = 40, tau0: float = 1000.0,
              tauf: float = 1e-8, lr_logits: float = 0.5, lr_model: float = 2e-5, straight_through: bool = False) -> MaskResult:
    if mode not in ("pipelined", "joint"):
        raise ValueError(f"dsp: unknown mode {mode!r}; allowed: 'pipelined', 'joint'")
    L, H = ctx.shape
    if n_prune == 0:
        return MaskResult(torch.ones(L, H, dtype=torch.bool))
    return _learn(ctx, n_prune, mode, steps, tau0, tauf, lr_logits, lr_model, straight_through)[1]


@register_criterion("dsp", mask_fn=_dsp_mask)
def dsp(ctx: ScoringContext, mode: str = "pipelined", steps: int = 40, tau0: float = 1000.0, tauf: float = 1e-8,
        lr_logits: float = 0.5, lr_model: float = 2e-5, straight_through: bool = False) -> torch.Tensor:
    """Differentiable subset pruning as released (Li et al. 2021): Gumbel-soft-top-K head logits learned under an exact
    K-heads-kept constraint, temperature 1000 -> 1e-8 over the released share of the steps.

    The head-map score is the logits learned at 50 % sparsity (each level learns its own logits)."""
    if mode not in ("pipelined", "joint"):
        raise ValueError(f"dsp: unknown mode {mode!r}; allowed: 'pipelined', 'joint'")
    L, H = ctx.shape
    return _learn(ctx, (L * H) // 2, mode, steps, tau0, tauf, lr_logits, lr_model, straight_through)[0]
