"""Why grid cells run side by side: one cell with all cores vs one cell per core.

Profiling a default grid cell (cProfile over ``run_benchmark``, minilm RTE, 2 cores) puts ~95 % of
its time in fine-tuning (forward + backward + AdamW) and evaluation forwards, and ~half of all time
inside ``torch._C._nn.linear``: the cells are compute-bound in matrix products of a few hundred
rows, which do not scale linearly with threads. This script measures, in one run, the throughput
(steps per second summed over processes) of

    1 process  x N threads   (cells one after another, the old default)
    N processes x 1 thread   (cells side by side, ``run_grid(..., n_workers=N)``)

for a minilm-shaped training step (batch 32 x 80 tokens) and an evaluation forward (64 x 80) and
prints the ratio. Random weights; N = the cores this process may use.

    python benchmarks/thread_scaling.py [--steps 8]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time


def _work(kind: str, threads: int, steps: int, start, out) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    model = BertForSequenceClassification(cfg)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])

    if kind == "train":
        ids = torch.randint(5, 30000, (32, 80))

        def step():
            loss = model(input_ids=ids, labels=torch.zeros(32, dtype=torch.long)).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    else:
        model.eval()
        ids = torch.randint(5, 30000, (64, 80))

        def step():
            with torch.inference_mode():
                model(input_ids=ids)

    for _ in range(2):
        step()
    start.wait()  # all processes time the same wall-clock window
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    out.put(steps / (time.perf_counter() - t0))


def throughput(kind: str, processes: int, threads: int, steps: int) -> float:
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_work, args=(kind, threads, steps, start, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    rates = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    a = ap.parse_args()
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{n} cores")
    for kind in ("train", "eval"):
        one = throughput(kind, 1, 1, a.steps)
        wide = throughput(kind, 1, n, a.steps)
        side = throughput(kind, n, 1, a.steps)
        print(f"{kind:5s}: 1 thread {one:.3f} steps/s | 1 process x {n} threads {wide:.3f} ({wide / one:.2f}x) | "
              f"{n} processes x 1 thread {side:.3f} ({side / one:.2f}x) -> side by side / threaded = {side / wide:.2f}")


if __name__ == "__main__":
    main()
