"""Does hpbench's evaluation cost much beyond the model itself? Throughput of ``hpbench.evaluation.evaluate``
on a physically pruned model vs a bare ``model(**batch)`` loop over the *same* pre-built, device-resident
batches of the same pruned model (no collating, no prediction bookkeeping, no metric):

    ratio = bare time / hpbench time     (target >= 0.5: the pruning and evaluation machinery costs little)

minilm (real weights, random classifier head: timing does not depend on it) on SST-2 dev, at 0 % and
50 % of heads pruned (a seeded random global choice), in the run's default evaluation batch size for the
device, interleaved rounds, best round each (timeit's convention).

    python benchmarks/eval_throughput.py [--device cuda] [--precision bf16] [--n 872] [--rounds 5]
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from hpbench.core.device import autocast, resolve_device, resolve_precision
from hpbench.evaluation.evaluate import eval_batch_size_for, evaluate
from hpbench.models import load, prune_heads
from hpbench.tasks import get_task
from hpbench.tasks.encoding import batches, encode, model_inputs


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_seconds(model, resident: list[dict], device, precision: str) -> float:
    with torch.inference_mode(), autocast(device, precision):
        _sync(device)
        t0 = time.perf_counter()
        for b in resident:
            model(**b)
        _sync(device)
    return time.perf_counter() - t0


def hpbench_seconds(model, task, enc, batch: int, precision: str, device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    evaluate(model, task, enc, batch_size=batch, precision=precision)  # returns host-side metrics: synchronised
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--n", type=int, default=872)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    device = resolve_device(a.device)
    precision = resolve_precision(a.precision, device)
    task = get_task("sst2")
    model, tok = load("minilm", task)
    model = model.to(device).eval()
    enc = encode(task, tok, task.load("dev", n=a.n, seed=0), 128)
    batch = eval_batch_size_for(device)
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]["input_ids"]))  # evaluate()'s own batching
    resident = [model_inputs(b, device) for b in batches([enc[i] for i in order], batch, bucket=False,
                                                          pad_id=tok.pad_token_id or 0)]
    L, H = model.config.num_hidden_layers, model.config.num_attention_heads
    keep = torch.ones(L * H, dtype=torch.bool)
    keep[torch.randperm(L * H, generator=torch.Generator().manual_seed(0))[: L * H // 2]] = False
    models = {"0 %": model, "50 %": prune_heads(copy.deepcopy(model), keep.view(L, H))}
    best = {(k, w): float("inf") for k in models for w in ("bare", "hpbench")}
    for m in models.values():  # warm-up
        bare_seconds(m, resident[:2], device, precision)
        hpbench_seconds(m, task, enc[:64], batch, precision, device)
    for _ in range(a.rounds):
        for k, m in models.items():
            best[(k, "bare")] = min(best[(k, "bare")], bare_seconds(m, resident, device, precision))
            best[(k, "hpbench")] = min(best[(k, "hpbench")], hpbench_seconds(m, task, enc, batch, precision, device))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {name}, precision {precision}, {len(enc)} SST-2 dev examples, batch {batch}")
    for k in models:
        b, h = best[(k, "bare")], best[(k, "hpbench")]
        print(f"{k:>5} heads pruned: bare {len(enc) / b:9.0f} ex/s, hpbench evaluate {len(enc) / h:9.0f} ex/s, "
              f"ratio {b / h:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
