"""Does physical pruning pay? Latency of head-pruned models vs what their FLOP count predicts.

For each shape (minilm: 6 x 12 heads, d 384; me5-small: 12 x 12 heads, d 384; optionally bert-base:
12 x 12, d 768) and sparsity 0..90 %, heads are removed with ``prune_linear_layer`` (a random global
choice, seeded) and the encoder forward is timed at batch 32 x 128 tokens. Printed per sparsity:
latency, throughput, parameters, FLOPs, and

    saved-time ratio = (1 - t_s / t_0) / (1 - F_s / F_0)    (target >= 0.9)

plus the gated-but-unpruned model's latency (masking gives no speedup). Random weights: latency
does not depend on the values.

    python benchmarks/pruning_speed.py [--shapes minilm me5-small] [--device cpu] [--dtype float32]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from transformers import BertConfig, BertModel

from hpbench.flops import encoder_flops
from hpbench.heads import gated, prune_heads

SHAPES = {
    "minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "me5-small": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=12, intermediate_size=1536),
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}


def latency(model, inputs, reps, sync, gates=None):
    with torch.inference_mode(), gated(model, gates):
        for _ in range(2):
            model(**inputs)
        sync()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            model(**inputs)
            sync()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", nargs="+", default=["minilm", "me5-small"], choices=list(SHAPES))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--csv", default=None)
    a = ap.parse_args()
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    dtype = getattr(torch, a.dtype)
    dev_name = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"cpu x{torch.get_num_threads()} threads"
    rows = []
    for shape in a.shapes:
        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=1000, max_position_embeddings=max(512, a.seq), **SHAPES[shape])
        base = BertModel(cfg, add_pooling_layer=False).eval().to(a.device, dtype)
        L, H = cfg.num_hidden_layers, cfg.num_attention_heads
        ids = torch.randint(5, 1000, (a.batch, a.seq), device=a.device)
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        order = torch.randperm(L * H, generator=torch.Generator().manual_seed(1))
        t0 = f0 = None
        for s in [i / 10 for i in range(10)]:
            n = int(round(s * L * H))
            keep = torch.ones(L * H, dtype=torch.bool)
            keep[order[:n]] = False
            keep = keep.view(L, H)
            m = prune_heads(copy.deepcopy(base), keep) if n else base
            t = latency(m, inputs, a.reps, sync)
            t_gated = latency(base, inputs, a.reps, sync, gates=keep.float().to(a.device)) if n else t
            f = encoder_flops(m, a.batch, a.seq)
            t0, f0 = (t, f) if n == 0 else (t0, f0)
            pred_saving, saving = 1 - f / f0, 1 - t / t0
            rows.append({"device": dev_name, "dtype": a.dtype, "shape": shape, "% heads pruned": int(100 * s),
                         "latency_ms": round(1000 * t, 2), "gated_latency_ms": round(1000 * t_gated, 2),
                         "sequences_per_s": round(a.batch / t, 1),
                         "params_M": round(sum(p.numel() for p in m.parameters()) / 1e6, 2),
                         "GFLOPs": round(f / 1e9, 2), "measured_speedup": round(t0 / t, 3),
                         "flop_speedup": round(f0 / f, 3),
                         "saved_time / predicted_saving": round(saving / pred_saving, 3) if n else None})
            print({k: v for k, v in rows[-1].items() if k != "device"}, flush=True)
            if n:
                del m
    import pandas as pd

    df = pd.DataFrame(rows)
    print(f"\n{dev_name}, {a.dtype}, batch {a.batch} x {a.seq} tokens")
    print(df.drop(columns=["device", "dtype"]).to_string(index=False))
    ok = df.dropna(subset=["saved_time / predicted_saving"])
    print("\nmean saved-time ratio (target >= 0.9):", ok.groupby("shape")["saved_time / predicted_saving"].mean().round(3).to_dict())
    if a.csv:
        df.to_csv(a.csv, index=False)


if __name__ == "__main__":
    main()
