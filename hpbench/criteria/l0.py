"""L0 head gates (Voita, Talbot, Moiseev, Sennrich, Titov, ACL 2019, "Analyzing Multi-Head Self-Attention"; Hard
Concrete gates of Louizos et al. 2018), following the DSP authors' PyTorch port of Voita et al. in full
(``rycolab/differentiable-subset-pruning`` @ de4fe02: ``gated_bert_utilities.ConcreteGate``,
``modeling_gated_bert.py``, ``examples/pruning/run_voita.py``, ``pruning_utils.convert_gate_to_mask``), not Voita's
TensorFlow release (``lena-voita/the-story-of-heads``), whose penalty averages over layers and whose pruned model keeps
the surviving gates' continuous values. The port, like hpbench, serves every sparsity from one run.

Per layer, log_alpha [heads] initialised Xavier-uniform as the port's ``[1, heads, 1, 1]`` parameter
(bound sqrt(6 / (heads + 1))); temperature beta = 0.33, stretch (gamma, zeta) = (-0.1, 1.1), eps = 1e-6:

Training gate (u = (1 - 2 eps) U(0, 1) + eps):  z = clamp(sigmoid((log u - log(1 - u) + log_alpha) / beta) (zeta - gamma) + gamma, 0, 1)
Penalty:  lambda x sum over layers of sum over heads of clamp(sigmoid(log_alpha - beta log(-gamma / zeta)), eps, 1 - eps)
Test-time gate:  clamp(sigmoid(log_alpha) (zeta - gamma) + gamma, 0, 1)

Training as the port's Trainer: AdamW (betas 0.9 / 0.999, eps 1e-8, no weight decay), gates at lr 0.1 and the model at
2e-5 (the port's joint pruning), both decayed linearly to 0, gradient norm clipped to 1.0, dropout on. Each level keeps
the K heads with the largest test-time gates (``convert_gate_to_mask(gates, K)``: a binary mask), ties between gates
saturated at 0 or 1 broken by log_alpha (the gate is monotone in it); the weights trained with the gates are evaluated
with each level's mask (as ``dsp``'s joint mode). hpbench trains from the fine-tuned checkpoint for ``steps`` steps on
the scoring examples (the port: 3 MNLI epochs while fine-tuning).
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


BETA, EPS = 0.33, 1e-6  # the port's temperature and eps


def hard_concrete_sample(log_alpha: torch.Tensor, u: torch.Tensor, beta: float = BETA, gamma: float = -0.1,
                         zeta: float = 1.1) -> torch.Tensor:
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    return (s * (zeta - gamma) + gamma).clamp(0.0, 1.0)


def expected_l0(log_alpha: torch.Tensor, beta: float = BETA, gamma: float = -0.1, zeta: float = 1.1) -> torch.Tensor:
    """P(z ≠ 0) per gate, clamped to [eps, 1 - eps] as the port's ``get_penalty``."""
    return torch.sigmoid(log_alpha - beta * math.log(-gamma / zeta)).clamp(EPS, 1 - EPS)


def init_log_alpha(L: int, H: int, generator: torch.Generator) -> torch.Tensor:
    """Each layer's log_alpha Xavier-uniform as the port's ``[1, H, 1, 1]`` parameter: U(-b, b), b = sqrt(6 / (H + 1))."""
    b = math.sqrt(6.0 / (H + 1))
    return (torch.rand(L, H, generator=generator) * 2 - 1) * b


def test_gate(log_alpha: torch.Tensor, gamma: float = -0.1, zeta: float = 1.1) -> torch.Tensor:
    return (torch.sigmoid(log_alpha) * (zeta - gamma) + gamma).clamp(0.0, 1.0)


test_gate.__test__ = False  # (not a pytest test)


def train_gates(model, task, data, *, lam: float, steps: int, seed: int, beta: float = BETA, gamma: float = -0.1,
                zeta: float = 1.1, lr_gates: float = 0.1, lr_model: float = 2e-5, batch_size: int = 32,
                pad_id: int = 0, precision: str = "fp32", max_grad_norm: float = 1.0) -> tuple[torch.Tensor, list[float]]:
    """Train log_alpha (and the model, ``lr_model > 0``) on task loss + lam Σ_layers Σ_heads P(z ≠ 0) as the port does
    (module docstring); returns (log_alpha [L, H] on the CPU, per-step penalised losses)."""
    L, H = head_shape(model)
    device = model_device(model)
    g = torch.Generator().manual_seed(seed)
    log_alpha = init_log_alpha(L, H, g).to(device).requires_grad_(True)
    groups = [{"params": [log_alpha], "lr": lr_gates}]
    trained = [p for p in model.parameters() if p.requires_grad] if lr_model > 0 else []
    if trained:
        groups.append({"params": trained, "lr": lr_model})
    opt = torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (steps - s) / max(steps, 1)))
    losses: list[torch.Tensor] = []
    model.train()  # the port's Trainer trains in train mode (dropout on)
    try:
        with HeadGates(model) as hg:
            for _, b in step_batches(data, batch_size, steps, lambda s: seed * 991 + s, pad_id=pad_id):
                u = ((1 - 2 * EPS) * torch.rand((L, H), generator=g) + EPS).to(device)
                hg.gates = hard_concrete_sample(log_alpha, u, beta, gamma, zeta)
                with autocast(device, precision):
                    out = model(**model_inputs(b, device))
                loss = task.loss_per_example(out.logits.float(), b["labels"].to(device)).mean()
                loss = loss + lam * expected_l0(log_alpha, beta, gamma, zeta).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([log_alpha] + trained, max_grad_norm)
                opt.step()
                sched.step()
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


def _l0_mask(ctx: ScoringContext, n_prune: int, lam: float = 0.01, steps: int = 200, beta: float = BETA,
             gamma: float = -0.1, zeta: float = 1.1, lr_gates: float = 0.1, lr_model: float = 2e-5) -> MaskResult:
    from .dsp import hard_topk_mask

    la, model, info = _learned(ctx, lam, steps, beta, gamma, zeta, lr_gates, lr_model)
    return MaskResult(hard_topk_mask(la, la.numel() - n_prune), model, dict(info))


def check_l0(lam: float = 0.01, steps: int = 200, beta: float = BETA, gamma: float = -0.1, zeta: float = 1.1,
             lr_gates: float = 0.1, lr_model: float = 2e-5) -> None:
    if lam < 0 or steps < 1 or beta <= 0 or not gamma < 0 or not zeta > 1 or lr_gates <= 0 or lr_model < 0:
        raise ValueError(f"l0: lam={lam} (>= 0), steps={steps} (>= 1), beta={beta} (> 0), gamma={gamma} (< 0), "
                         f"zeta={zeta} (> 1), lr_gates={lr_gates} (> 0), lr_model={lr_model} (>= 0): a value is outside "
                         "its allowed range")


@register_criterion("l0", mask_fn=_l0_mask, check=check_l0)
def l0(ctx: ScoringContext, lam: float = 0.01, steps: int = 200, beta: float = BETA, gamma: float = -0.1,
       zeta: float = 1.1, lr_gates: float = 0.1, lr_model: float = 2e-5) -> torch.Tensor:
    """Voita et al. 2019 Hard Concrete L0 head gates as the DSP authors' PyTorch port trains them (with the model);
    each level keeps the heads with the largest test-time gates."""
    return _learned(ctx, lam, steps, beta, gamma, zeta, lr_gates, lr_model)[0]
