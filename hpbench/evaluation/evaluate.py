"""Evaluate a (gated or pruned) model on encoded task examples."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..core.device import autocast, model_device
from ..models.heads import gated
from ..tasks import metrics as M
from ..tasks.encoding import batches, model_inputs
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


def eval_batches(encoded: Sequence[dict], batch_size: int, pad_id: int, device: torch.device | str) -> EvalBatches:
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]))
    bs = list(batches([encoded[i] for i in order], batch_size, bucket=False, pad_id=pad_id))
    return EvalBatches(order, [model_inputs(b, device) for b in bs], [b["labels"] for b in bs], batch_size,
                       torch.device(device))


@torch.inference_mode()
def predict(model, task: Task, encoded: Sequence[dict], *, batch_size: int = EVAL_BATCH_SIZE, gates: torch.Tensor | None = None,
            pad_id: int = 0, precision: str = "fp32", prepared: EvalBatches | None = None):
    """(labels, predictions) in the order of ``encoded``; token tasks give per-sentence lists.

    ``prepared`` (from :func:`eval_batches`) skips re-batching. Predictions stay on the model's device until
    every batch has run (one transfer at the end, no host-device synchronisation inside the loop)."""
    model.eval()
    device = model_device(model)
    if prepared is None or prepared.device != device:
        prepared = eval_batches(encoded, batch_size, pad_id, device)
    with gated(model, gates), autocast(device, precision):
        preds = [task.predict(model(**inputs).logits.float()) for inputs in prepared.inputs]
    ys: list = [None] * len(encoded)
    ps: list = [None] * len(encoded)
    pos = 0
    for pred, lab in zip(preds, prepared.labels):
        pred = pred.cpu()
        for j in range(len(lab)):
            i = prepared.order[pos + j]
            if task.kind == "token":
                keep = lab[j] != -100
                ys[i], ps[i] = lab[j][keep].tolist(), pred[j][keep].tolist()
            else:
                ys[i], ps[i] = lab[j].item(), pred[j].item()
        pos += len(lab)
    return ys, ps


def score(task: Task, ys, ps) -> dict[str, float]:
    """The task's metrics from labels and predictions."""
    if task.kind == "token":
        if "seqeval_f1" in task.metrics:
            names = task.label_names
            out = {"seqeval_f1": M.seqeval_f1([[names[t] for t in y] for y in ys], [[names[t] for t in p] for p in ps])}
            others = [m for m in task.metrics if m != "seqeval_f1"]
        else:
            out, others = {}, list(task.metrics)
        flat_y = np.concatenate([np.asarray(y, dtype=int) for y in ys]) if ys else np.array([])
        flat_p = np.concatenate([np.asarray(p, dtype=int) for p in ps]) if ps else np.array([])
        out.update(M.compute(others, flat_y, flat_p))
        return out
    return M.compute(task.metrics, ys, ps)


def evaluate(model, task: Task, encoded: Sequence[dict], *, batch_size: int = EVAL_BATCH_SIZE, gates: torch.Tensor | None = None,
             pad_id: int = 0, precision: str = "fp32", prepared: EvalBatches | None = None) -> dict[str, float]:
    """Metrics of ``model`` (optionally gated) on ``encoded`` examples, on the model's device."""
    ys, ps = predict(model, task, encoded, batch_size=batch_size, gates=gates, pad_id=pad_id, precision=precision,
                     prepared=prepared)
    return score(task, ys, ps)
