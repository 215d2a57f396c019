"""Evaluate a (gated or pruned) model on encoded task examples."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..core.device import autocast, model_device
from ..models.heads import gated
from ..tasks.encoding import batches, length, model_inputs
from ..tasks.kinds import kind_of
from ..tasks.spec import Task

# Small length-sorted batches: at 64, padding to each batch's longest example added 22-52 % to the
# dev subsets' tokens (STS-B worst); at 16 it adds 5-13 % and evaluation ran 16-25 % faster on CPU.
EVAL_BATCH_SIZE = 16


# On an accelerator padding costs little and launches dominate: larger batches (still length-sorted).
ACCELERATOR_EVAL_BATCH_SIZE = 128


def eval_batch_size_for(device: torch.device | str) -> int:
    """The default evaluation batch size on ``device``."""
    return EVAL_BATCH_SIZE if torch.device(device).type == "cpu" else ACCELERATOR_EVAL_BATCH_SIZE


@dataclass
class EvalBatches:
    """Length-sorted, padded batches of encoded examples, inputs already on the device (built once, reused by
    every evaluation of the same examples: a run evaluates its dev set once per mask)."""

    order: list[int]  # batch position -> example index
    inputs: list[dict[str, torch.Tensor]]
    labels: list[torch.Tensor]  # on the CPU
    batch_size: int
    device: torch.device
    device_labels: list[torch.Tensor]  # the same on the device (kinds whose predictions need them: perplexity)


def eval_batches(encoded: Sequence[dict], batch_size: int, pad_id: int, device: torch.device | str) -> EvalBatches:
    order = sorted(range(len(encoded)), key=lambda i: length(encoded[i]))
    bs = list(batches([encoded[i] for i in order], batch_size, bucket=False, pad_id=pad_id))
    return EvalBatches(order, [model_inputs(b, device) for b in bs], [b["labels"] for b in bs], batch_size,
                       torch.device(device), [b["labels"].to(device, non_blocking=True) for b in bs])


@torch.inference_mode()
def predict(model, task: Task, encoded: Sequence[dict], *, batch_size: int = EVAL_BATCH_SIZE, gates: torch.Tensor | None = None,
            pad_id: int = 0, precision: str = "fp32", prepared: EvalBatches | None = None):
    """(labels, predictions) in the order of ``encoded``; token tasks give per-sentence lists.

    ``prepared`` (from :func:`eval_batches`) skips re-batching. Predictions stay on the model's device until
    every batch has run (one transfer at the end, no host-device synchronisation inside the loop)."""
    model.eval()
    kind = kind_of(task)
    device = model_device(model)
    if prepared is None or prepared.device != device:
        prepared = eval_batches(encoded, batch_size, pad_id, device)
    with gated(model, gates), autocast(device, precision):
        preds = [kind.predict(model(**inputs).logits.float(), lab)
                 for inputs, lab in zip(prepared.inputs, prepared.device_labels)]
    ys: list = [None] * len(encoded)
    ps: list = [None] * len(encoded)
    pos = 0
    for pred, lab in zip(preds, prepared.labels):
        pred = pred.cpu()
        for j in range(len(lab)):
            i = prepared.order[pos + j]
            ys[i], ps[i] = kind.unpack(pred[j], lab[j])
        pos += len(lab)
    return ys, ps


def harness_predict(model, task: Task, processor, examples: Sequence, *, batch_size: int, precision: str = "fp32"):
    """(labels, predictions) of ``examples`` for a kind evaluated by an external harness (``kind.harness``: lm-eval,
    :data:`hpbench.evaluation.lm_harness.HARNESSES`), under the run's precision."""
    from .lm_harness import HARNESSES

    with autocast(model_device(model), precision):
        return HARNESSES.get(task.kind)(model, processor, task, examples, batch_size)


def score(task: Task, ys, ps) -> dict[str, float]:
    """The task's metrics from labels and predictions (as its kind defines them)."""
    return kind_of(task).score(task, ys, ps)


def evaluate(model, task: Task, encoded: Sequence[dict], *, batch_size: int = EVAL_BATCH_SIZE, gates: torch.Tensor | None = None,
             pad_id: int = 0, precision: str = "fp32", prepared: EvalBatches | None = None) -> dict[str, float]:
    """Metrics of ``model`` (optionally gated) on ``encoded`` examples, on the model's device."""
    ys, ps = predict(model, task, encoded, batch_size=batch_size, gates=gates, pad_id=pad_id, precision=precision,
                     prepared=prepared)
    return score(task, ys, ps)
