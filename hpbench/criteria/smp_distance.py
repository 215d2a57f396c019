"""``smp_distance``: hpbench's earlier SMP reconstruction (kept as a simpler, cheaper relative of ``smp``).

Written before the authors' code (GitHub thunlp/SMP) was known: it keeps SMP's protocol (prune the
*pretrained* model, then fine-tune) and its aim (the pruned model keeps the full model's
representations), but learns one logit per head directly instead of a CNN over attention maps, with
a global rather than per-layer selection, and a token-state distance instead of the similarity
distribution. ``smp`` (:mod:`hpbench.criteria.smp`) is the authors' design; reports name both.

Objective, weights frozen, on unlabelled text (the task's training sentences with labels ignored):

    D(m) = E_x [ (1/|x|) sum_t || h_full(x)_t - h_m(x)_t ||^2 / || h_full(x)_t ||^2 ]

the relative squared distance between the full and the gated model's last-layer token states (and
the [CLS] state, included as t = 0), minimised over the head mask m with the same
Gumbel-soft-top-K relaxation as DSP under "exactly K heads kept"; the final mask is the top-K of
the learned logits, initialised from the pretrained model's attention entropy ranking.
The sweep then fine-tunes the *pruned* pretrained model with the run's fine-tuning settings and
evaluates it: a different protocol (prune, then train), shown as its own series in reports.
"""
from __future__ import annotations

import time

import torch

from ..tasks.encoding import model_inputs
from .base import MaskResult, ScoringContext, register_criterion
from .dsp import hard_topk_mask, learn_subset


def representation_distance(full: torch.Tensor, pruned: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens of ||h_full - h_pruned||^2 / ||h_full||^2 (shapes [B, T, d], mask [B, T])."""
    num = ((full - pruned) ** 2).sum(-1)
    den = (full ** 2).sum(-1).clamp(min=1e-12)
    m = mask.to(num.dtype)
    return ((num / den) * m).sum() / m.sum().clamp(min=1)


def _encoder(model):
    return getattr(model, model.base_model_prefix, model)


def smp_objective(model, data, pad_id: int = 0, batch_size: int = 32):
    """A ``loss_fn(model, batch, gates)`` closure computing D(m) against the full model's cached states."""
    enc = _encoder(model)
    dev = next(model.parameters()).device
    cache: dict[int, torch.Tensor] = {}

    def loss_fn(m, b, gates):
        inputs = model_inputs(b, dev)
        key = hash(b["input_ids"].numpy().tobytes())
        if key not in cache:  # the full model's states: gates off for this forward
            current, gates.gates = gates.gates, None
            with torch.no_grad():
                cache[key] = enc(**inputs).last_hidden_state.detach()
            gates.gates = current
        out = enc(**inputs).last_hidden_state
        return representation_distance(cache[key], out, inputs["attention_mask"])

    return loss_fn


def _learn(ctx: ScoringContext, n_prune: int, steps: int, tau0: float, tauf: float,
           lr_logits: float) -> tuple[torch.Tensor, MaskResult]:
    """Learn the logits for ``n_prune`` heads pruned (memoised per level and setting): (logits, mask result)."""
    L, H = ctx.shape
    k = L * H - n_prune

    def run() -> tuple[torch.Tensor, MaskResult]:
        t0 = time.perf_counter()
        w, losses = learn_subset(ctx.model, smp_objective(ctx.model, ctx.encoded, ctx.pad_id), ctx.encoded, k,
                                 steps=steps, seed=ctx.seed * 17 + n_prune, tau0=tau0, tauf=tauf, lr_logits=lr_logits,
                                 batch_size=ctx.batch_size, pad_id=ctx.pad_id, precision=ctx.precision)
        info = {"training_steps": steps, "train_seconds": time.perf_counter() - t0}
        if losses:
            info.update(smp_objective_first=losses[0], smp_objective_last=losses[-1])
        return w, MaskResult(hard_topk_mask(w, k), info=info)

    return ctx.remember(("smp_distance", n_prune, steps, tau0, tauf, lr_logits), run)


def _smp_mask(ctx: ScoringContext, n_prune: int, steps: int = 40, tau0: float = 10.0, tauf: float = 0.05,
              lr_logits: float = 0.5) -> MaskResult:
    L, H = ctx.shape
    if n_prune == 0:
        return MaskResult(torch.ones(L, H, dtype=torch.bool))
    return _learn(ctx, n_prune, steps, tau0, tauf, lr_logits)[1]


@register_criterion("smp_distance", mask_fn=_smp_mask, protocol="prune-before-finetune")
def smp_distance(ctx: ScoringContext, steps: int = 40, tau0: float = 10.0, tauf: float = 0.05, lr_logits: float = 0.5
                 ) -> torch.Tensor:
    """hpbench's earlier SMP reconstruction: keep the K heads (global) whose gated model best preserves the
    pretrained model's token states; fine-tune after pruning. Head-map score: logits learned at 50 %."""
    L, H = ctx.shape
    return _learn(ctx, (L * H) // 2, steps, tau0, tauf, lr_logits)[0]
