"""Evaluate a (gated or pruned) model on encoded task examples."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from . import metrics as M
from .batching import batches, model_inputs
from .heads import gated
from .tasks import Task

# Small length-sorted batches: at 64, padding to each batch's longest example added 22-52 % to the
# dev subsets' tokens (STS-B worst); at 16 it adds 5-13 % and evaluation ran 16-25 % faster on CPU.
EVAL_BATCH_SIZE = 16


@torch.inference_mode()
def predict(model, task: Task, encoded: Sequence[dict], *, batch_size: int = EVAL_BATCH_SIZE, gates: torch.Tensor | None = None,
            pad_id: int = 0):
    """(labels, predictions) in the order of ``encoded``; token tasks give per-sentence lists."""
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]))
    ys: list = [None] * len(encoded)
    ps: list = [None] * len(encoded)
    with gated(model, gates):
        pos = 0
        for b in batches([encoded[i] for i in order], batch_size, bucket=False, pad_id=pad_id):
            logits = model(**model_inputs(b, device)).logits.float().cpu()
            pred = task.predict(logits)
            for j in range(len(b["labels"])):
                i = order[pos + j]
                if task.kind == "token":
                    keep = b["labels"][j] != -100
                    ys[i] = b["labels"][j][keep].tolist()
                    ps[i] = pred[j][keep].tolist()
                else:
                    ys[i] = b["labels"][j].item()
                    ps[i] = pred[j].item()
            pos += len(b["labels"])
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
             pad_id: int = 0) -> dict[str, float]:
    """Metrics of ``model`` (optionally gated) on ``encoded`` examples."""
    ys, ps = predict(model, task, encoded, batch_size=batch_size, gates=gates, pad_id=pad_id)
    return score(task, ys, ps)
