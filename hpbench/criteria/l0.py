"""L0 head gates (Voita, Talbot, Moiseev, Sennrich, Titov, ACL 2019, "Analyzing Multi-Head Self-Attention"; Hard
Concrete gates of Louizos et al. 2018): one gate per head, trained with the model on the task loss plus
lambda x the expected number of open gates, then heads ranked by their gate's log-alpha so every sparsity level is
served exactly. The weights trained with the gates are evaluated with each level's mask (as ``dsp``'s joint mode).

Training gate (u ~ U(0, 1)):  s = sigmoid((log u − log(1 − u) + log_alpha) / beta),  z = clamp(s (zeta − gamma) + gamma, 0, 1)
Expected L0:                  P(z ≠ 0) = sigmoid(log_alpha − beta log(−gamma / zeta))
Test-time gate:               z = clamp(sigmoid(log_alpha) (zeta − gamma) + gamma, 0, 1)
with beta = 2/3, gamma = −0.1, zeta = 1.1 (the paper's). hpbench trains from the fine-tuned checkpoint (the paper
trains gates while fine-tuning a converged model too) for ``steps`` steps on the scoring examples.
"""
from __future__ import annotations

import copy
import math
import time

import torch

from ..core.device import autocast, model_device
from ..models.heads import HeadGates, head_shape
from ..tasks.encoding import model_inputs, step_batches
from .base import MaskResult, ScoringContext, register_criterion


def hard_concrete_sample(log_alpha: torch.Tensor, u: torch.Tensor, beta: float = 2 / 3, gamma: float = -0.1,
                         zeta: float = 1.1) -> torch.Tensor:
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    return (s * (zeta - gamma) + gamma).clamp(0.0, 1.0)


def expected_l0(log_alpha: torch.Tensor, beta: float = 2 / 3, gamma: float = -0.1, zeta: float = 1.1) -> torch.Tensor:
    """P(z ≠ 0) per gate."""
    return torch.sigmoid(log_alpha - beta * math.log(-gamma / zeta))


def test_gate(log_alpha: torch.Tensor, gamma: float = -0.1, zeta: float = 1.1) -> torch.Tensor:
    return (torch.sigmoid(log_alpha) * (zeta - gamma) + gamma).clamp(0.0, 1.0)


test_gate.__test__ = False  # (not a pytest test)


def train_gates(model, task, data, *, lam: float, steps: int, seed: int, beta: float = 2 / 3, gamma: float = -0.1,
                zeta: float = 1.1, lr_gates: float = 0.1, lr_model: float = 2e-5, batch_size: int = 32,
                pad_id: int = 0, precision: str = "fp32", init: float = 3.0) -> tuple[torch.Tensor, list[float]]:
    """Train log_alpha (and the model, ``lr_model > 0``) on task loss + lam Σ P(z ≠ 0); returns (log_alpha [L, H]
    on the CPU, per-step penalised losses)."""
    L, H = head_shape(model)
    device = model_device(model)
    g = torch.Generator().manual_seed(seed)
    log_alpha = torch.full((L, H), float(init), device=device, requires_grad=True)
    groups = [{"params": [log_alpha], "lr": lr_gates}]
    if lr_model > 0:
        groups.append({"params": [p for p in model.parameters() if p.requires_grad], "lr": lr_model})
    opt = torch.optim.Adam(groups)
    losses: list[torch.Tensor] = []
    model.train(lr_model > 0)
    try:
        with HeadGates(model) as hg:
            for _, b in step_batches(data, batch_size, steps, lambda s: seed * 991 + s, pad_id=pad_id):
                u = torch.rand((L, H), generator=g).clamp(1e-6, 1 - 1e-6).to(device)
                hg.gates = hard_concrete_sample(log_alpha, u, beta, gamma, zeta)
                with autocast(device, precision):
                    out = model(**model_inputs(b, device))
                loss = task.loss_per_example(out.logits.float(), b["labels"].to(device)).mean()
                loss = loss + lam * expected_l0(log_alpha, beta, gamma, zeta).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.detach())
    finally:
        model.eval()
    return log_alpha.detach().cpu(), (torch.stack(losses).cpu().tolist() if losses else [])


def _learned(ctx: ScoringContext, lam, steps, beta, gamma, zeta, lr_gates, lr_model):
    def run():
        model = copy.deepcopy(ctx.model)
        t0 = time.perf_counter()
        la, _ = train_gates(model, ctx.task, ctx.encoded, lam=lam, steps=steps, seed=ctx.seed * 17 + 3, beta=beta,
                            gamma=gamma, zeta=zeta, lr_gates=lr_gates, lr_model=lr_model, batch_size=ctx.batch_size,
                            pad_id=ctx.pad_id, precision=ctx.precision)
        open_ = int((test_gate(la, gamma, zeta) > 0).sum())
        return la, model, {"training_steps": steps, "l0_train_seconds": time.perf_counter() - t0, "l0_open_gates": open_}
    return ctx.remember(("l0", lam, steps, beta, gamma, zeta, lr_gates, lr_model), run)


def _l0_mask(ctx: ScoringContext, n_prune: int, lam: float = 0.01, steps: int = 200, beta: float = 2 / 3,
             gamma: float = -0.1, zeta: float = 1.1, lr_gates: float = 0.1, lr_model: float = 2e-5) -> MaskResult:
    from .dsp import hard_topk_mask

    la, model, info = _learned(ctx, lam, steps, beta, gamma, zeta, lr_gates, lr_model)
    return MaskResult(hard_topk_mask(la, la.numel() - n_prune), model, dict(info))


def check_l0(lam: float = 0.01, steps: int = 200, beta: float = 2 / 3, gamma: float = -0.1, zeta: float = 1.1,
             lr_gates: float = 0.1, lr_model: float = 2e-5) -> None:
    if lam < 0 or steps < 1 or beta <= 0 or not gamma < 0 or not zeta > 1 or lr_gates <= 0 or lr_model < 0:
        raise ValueError(f"l0: lam={lam} (>= 0), steps={steps} (>= 1), beta={beta} (> 0), gamma={gamma} (< 0), "
                         f"zeta={zeta} (> 1), lr_gates={lr_gates} (> 0), lr_model={lr_model} (>= 0): a value is outside "
                         "its allowed range")


@register_criterion("l0", mask_fn=_l0_mask, check=check_l0)
def l0(ctx: ScoringContext, lam: float = 0.01, steps: int = 200, beta: float = 2 / 3, gamma: float = -0.1,
       zeta: float = 1.1, lr_gates: float = 0.1, lr_model: float = 2e-5) -> torch.Tensor:
    """Voita et al. 2019 Hard Concrete L0 head gates trained with the model; heads ranked by log-alpha."""
    return _learned(ctx, lam, steps, beta, gamma, zeta, lr_gates, lr_model)[0]
