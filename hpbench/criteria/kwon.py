"""Retraining-free pruning (Kwon, Kim, Mahoney, Hassoun, Keutzer, Gholami, NeurIPS 2022, "A Fast Post-Training
Pruning Framework for Transformers") as its authors released it (``WoosukKwon/retraining-free-pruning`` @ 806ac5a,
``main.py`` with ``--metric mac``), and one variant of hpbench's own:

* ``kwon``: heads and FFN neurons under a MAC budget, the level being the share of the dense heads + FFN MACs
  removed (constraint c = 1 - level) at the task's average dev-set length. On 2,048 training examples drawn with
  replacement (``np.random.choice``, the scoring seed) in mini-batches of 32: the mask gradients and Fisher
  (:func:`~hpbench.criteria.kwon_search.minibatch_grads`), the MAC search at c (the student) and at sqrt(c) (the
  teacher-assistant, ``get_pruning_schedule(c, 2)[0]``), the greedy rearrangement of the student's heads and neurons
  in every layer, then mask tuning toward the teacher (:mod:`hpbench.recovery.rescale`). Reports compare it at equal
  FLOPs, never at equal heads.
* ``kwon_heads`` (hpbench's variant, not the paper's setting): the same Fisher, rearrangement and mask tuning with
  the level read as a share of heads (the top heads by Fisher kept; the teacher keeps the top sqrt(1 - level) share
  of heads; no neuron pruned, the neurons' mask values tuned as the released procedure tunes every kept neuron), so it
  can stand beside the other criteria at equal heads.

``tune=false`` leaves out mask tuning (the searched and rearranged binary masks), the measure of what tuning adds.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..models.adapters import adapter_for
from ..models.architectures import architecture_for
from ..models.ffn import FFN_MAPS, prune_neurons, scale_neurons
from ..models.heads import scale_heads
from ..recovery.rescale import check_rescalable, rescale_mask
from .base import MaskResult, ScoringContext, register_criterion
from .kwon_search import SAMPLE_BATCH, keep_top, minibatch_grads, rearrange, search_mac

N_SAMPLES = 2048


def teacher_constraint(constraint: float) -> float:
    """``utils/schedule.py: get_pruning_schedule(target, num_iter=2)[0]`` = sqrt(target)."""
    return math.pow(constraint, 1 / 2)


def released_draw(n_train: int, n: int, seed: int) -> list[int]:
    """``np.random.choice(len(training_dataset), num_samples)`` after ``set_seed(seed)``: ``n`` indices, with
    replacement."""
    return np.random.RandomState(seed).choice(n_train, n).tolist()


def _grads(ctx: ScoringContext, n: int):
    neurons = architecture_for(ctx.model).ffn is not None
    return ctx.remember(("kwon_grads", n), lambda: minibatch_grads(
        ctx.model, ctx.task, ctx.draw(n, released_draw), batch_size=SAMPLE_BATCH, pad_id=ctx.pad_id,
        precision=ctx.precision, neurons=neurons))


def check_model(model, tune: bool, neurons: bool) -> None:
    """The released method needs one KV head per query head (its MACs count a K and V per head), an FFN map for
    neurons, and a post-LN architecture for its mask tuning."""
    mt = model.config.model_type
    if getattr(model.config, "num_key_value_heads", None) not in (None, model.config.num_attention_heads):
        raise ValueError(f"kwon: needs one KV head per query head; this {mt} groups "
                         f"{model.config.num_attention_heads} query heads over {model.config.num_key_value_heads} KV heads")
    if neurons and architecture_for(model).ffn is None:
        raise ValueError(f"kwon: hpbench does not know where {mt!r}'s FFN neurons are; model types with FFN maps: "
                         f"{', '.join(FFN_MAPS.names())} (kwon_heads prunes heads only)")
    if tune:
        check_rescalable(model)


def _plan(ctx: ScoringContext, n: int, tune: bool, student, teacher, grads, t0: float, ffn: bool) -> MaskResult:
    keep, nkeep = student
    keep = rearrange(keep, grads.head)
    if ffn:
        nkeep = rearrange(nkeep, grads.neuron)
    info = {"kwon_n": grads.n_examples, "kwon_fisher_seconds": grads.seconds}
    model, costs = ctx.model, {}
    if tune:
        r = rescale_mask(ctx.model, teacher[0], teacher[1], keep, nkeep, ctx.draw(n, released_draw),
                         sequence_level=ctx.task.kind in ("classification", "regression"), batch_size=SAMPLE_BATCH,
                         pad_id=ctx.pad_id, precision=ctx.precision)
        model = scale_heads(model, torch.where(keep, r.head, torch.ones_like(r.head)).float())
        model = scale_neurons(model, torch.where(nkeep, r.neuron, torch.ones_like(r.neuron)).float())
        costs["kwon_tuning_stopped"] = float(r.stopped is not None)
    if ffn:
        model = prune_neurons(model if tune else _copy(model), nkeep)
    costs["kwon_mask_seconds"] = time.perf_counter() - t0
    return MaskResult(keep, model if (tune or ffn) else None, info, ffn_keep=nkeep if ffn else None, costs=costs)


def _kwon_mask(ctx: ScoringContext, n_prune: int, n: int = N_SAMPLES, tune: bool = True, sparsity: float = 0.0) -> MaskResult:
    check_model(ctx.model, tune, True)
    grads = _grads(ctx, n)
    L, H = ctx.shape
    N = grads.neuron.shape[-1]
    if sparsity <= 0:
        return MaskResult(torch.ones(L, H, dtype=torch.bool), None, ffn_keep=torch.ones(L, N, dtype=torch.bool))
    t0 = time.perf_counter()
    shape = adapter_for(ctx.model.config).shape(ctx.model.config)  # width and head size, as the FLOPs count them
    seq = ctx.avg_length()
    c = 1.0 - float(sparsity)
    search = lambda con: search_mac(grads.head_fisher, grads.neuron_fisher, seq, shape.hidden, shape.head_dim, con)  # noqa: E731
    plan = _plan(ctx, n, tune, search(c), search(teacher_constraint(c)), grads, t0, ffn=True)
    plan.info["kwon_seq_len"] = seq  # the length its MAC costs were counted at
    return plan


def _kwon_heads_mask(ctx: ScoringContext, n_prune: int, n: int = N_SAMPLES, tune: bool = True) -> MaskResult:
    check_model(ctx.model, tune, False)
    grads = _grads(ctx, n)
    L, H = ctx.shape
    if n_prune == 0:
        return MaskResult(torch.ones(L, H, dtype=torch.bool))
    t0 = time.perf_counter()
    N = grads.neuron.shape[-1] if grads.neuron is not None else 0
    kept_teacher = round(teacher_constraint(1 - n_prune / (L * H)) * L * H)
    all_n = torch.ones(L, N, dtype=torch.bool)
    student = (keep_top(grads.head_fisher, L * H - n_prune), all_n)
    teacher = (keep_top(grads.head_fisher, kept_teacher), all_n)
    return _plan(ctx, n, tune, student, teacher, grads, t0, ffn=False)


def _copy(model):
    import copy

    return copy.deepcopy(model)


def check_kwon(n: int = N_SAMPLES, tune: bool = True) -> None:
    if n < 1:
        raise ValueError(f"kwon: n={n} must be >= 1 (training examples drawn for the Fisher and the tuning)")


@register_criterion("kwon", mask_fn=_kwon_mask, check=check_kwon)
def kwon(ctx: ScoringContext, n: int = N_SAMPLES, tune: bool = True) -> torch.Tensor:
    """Kwon et al. 2022 as released: mini-batch Fisher, MAC search of heads and FFN neurons, greedy rearrangement,
    mask tuning toward a teacher-assistant (levels = share of MACs removed).

    The head-map score is the heads' Fisher sum_b g_b^2."""
    check_model(ctx.model, tune, True)
    return _grads(ctx, n).head_fisher.float()


@register_criterion("kwon_heads", mask_fn=_kwon_heads_mask, check=check_kwon)
def kwon_heads(ctx: ScoringContext, n: int = N_SAMPLES, tune: bool = True) -> torch.Tensor:
    """hpbench's heads-only variant of Kwon et al. 2022 (levels = share of heads): the released Fisher, greedy
    rearrangement and mask tuning, no neuron pruned.

    The head-map score is the heads' Fisher sum_b g_b^2."""
    check_model(ctx.model, tune, False)
    return _grads(ctx, n).head_fisher.float()
