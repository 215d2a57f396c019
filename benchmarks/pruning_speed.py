"""Does physical pruning pay? Latency of head-pruned models vs what their FLOP count predicts.

For each shape (minilm: 6 x 12 heads, d 384; me5-small: 12 x 12 heads, d 384; llama-gqa: a Llama-style
decoder, 8 layers x 8 query heads over 2 KV heads, d 512; optionally bert-base: 12 x 12, d 768) and sparsity 0..90 %, heads are removed with ``prune_linear_layer`` (a random global
choice, seeded) and the encoder forward is timed at batch 32 x 128 tokens. Printed per sparsity:
latency, throughput, parameters, FLOPs, and

    saved-time ratio = (1 - t_s / t_0) / (1 - F_s / F_0)    (target >= 0.9)

plus the gated-but-unpruned model's latency at 50 % (masking gives no speedup). All variants of a shape
are timed in interleaved rounds (shuffled order, one forward each per round), so drift on a shared
machine hits all alike; latency is the best round (timeit's convention: interference only adds
time). Also printed: the median and interquartile range of the ratio computed within each round,
which shows how noisy the machine was. Random weights: latency does not depend on the values.

    python benchmarks/pruning_speed.py [--shapes minilm me5-small] [--rounds 10] [--device cpu] [--dtype float32]
"""
from __future__ import annotations

import argparse
import copy
import random
import statistics
import time

import numpy as np

import torch
from tqdm.auto import tqdm
from transformers import BertConfig, BertModel

from hpbench.models.flops import encoder_flops
from hpbench.models.heads import gated, prune_heads

SHAPES = {
    "minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "me5-small": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=12, intermediate_size=1536),
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    # a Llama-style decoder with grouped KV heads (8 query heads, 2 KV heads per layer; gated MLP): query heads are
    # pruned one by one, a KV head with the last query head of its group
    "llama-gqa": dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
                      intermediate_size=1408),
}


def _base_model(shape: str, seq: int):
    """Random-weight encoder (BERT shapes) or decoder (llama-gqa: timed with the hpbench_gqa attention function
    before and after pruning, so both sides run the same attention code)."""
    if shape == "llama-gqa":
        from transformers import LlamaConfig, LlamaModel

        from hpbench.models.adapters import GQA_ATTENTION, register_gqa_attention

        register_gqa_attention()
        m = LlamaModel(LlamaConfig(vocab_size=1000, max_position_embeddings=max(512, seq), **SHAPES[shape]))
        m.set_attn_implementation(GQA_ATTENTION)
        return m
    return BertModel(BertConfig(vocab_size=1000, max_position_embeddings=max(512, seq), **SHAPES[shape]), add_pooling_layer=False)


def _forward_time(model, inputs, sync, gates=None) -> float:
    with torch.inference_mode(), gated(model, gates):
        sync()
        t0 = time.perf_counter()
        model(**inputs)
        sync()
        return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", nargs="+", default=["minilm", "me5-small", "llama-gqa"], choices=list(SHAPES))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=10, help="timing rounds; every model is timed once per round")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--csv", default=None)
    a = ap.parse_args()
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    dtype = getattr(torch, a.dtype)
    dev_name = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"cpu x{torch.get_num_threads()} threads"
    levels = [i / 10 for i in range(10)]
    rows = []
    for shape in a.shapes:
        torch.manual_seed(0)
        base = _base_model(shape, a.seq).eval().to(a.device, dtype)
        cfg = base.config
        L, H = cfg.num_hidden_layers, cfg.num_attention_heads
        ids = torch.randint(5, 1000, (a.batch, a.seq), device=a.device)
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        order = torch.randperm(L * H, generator=torch.Generator().manual_seed(1))
        # every variant: (sparsity, model, gates); "gated" = the unpruned model with 50 % of heads masked
        variants = {}
        for s in levels:
            n = int(round(s * L * H))
            keep = torch.ones(L * H, dtype=torch.bool)
            keep[order[:n]] = False
            keep = keep.view(L, H)
            variants[s] = (prune_heads(copy.deepcopy(base), keep) if n else base, None)
            if s == 0.5:
                variants["gated"] = (base, keep.float().to(a.device))
        # interleaved rounds in a shuffled order: slow drifts of a shared machine hit all variants alike,
        # and each saving is computed against the unpruned time of the same round
        times = {k: [] for k in variants}
        for k, (m, g) in variants.items():
            for _ in range(2):
                _forward_time(m, inputs, sync, g)
        rng = random.Random(0)
        for r in tqdm(range(a.rounds), desc=f"{shape} rounds"):
            keys = list(variants)
            rng.shuffle(keys)
            for k in keys:
                m, g = variants[k]
                times[k].append(_forward_time(m, inputs, sync, g))
        f0 = encoder_flops(base, a.batch, a.seq)
        t0 = min(times[0.0])  # best of the rounds (timeit's convention: interference only adds time)
        for s in levels:
            m = variants[s][0]
            f = encoder_flops(m, a.batch, a.seq)
            t = min(times[s])
            paired = [(1 - ts / tb) / (1 - f / f0) for ts, tb in zip(times[s], times[0.0])] if s else []
            rows.append({"device": dev_name, "dtype": a.dtype, "shape": shape, "% heads pruned": int(round(100 * s)),
                         "latency_ms": round(1000 * t, 2),
                         "gated_latency_ms": round(1000 * min(times["gated"]), 2) if s == 0.5 else None,
                         "sequences_per_s": round(a.batch / t, 1),
                         "params_M": round(sum(p.numel() for p in m.parameters()) / 1e6, 2),
                         "GFLOPs": round(f / 1e9, 2), "measured_speedup": round(t0 / t, 3),
                         "flop_speedup": round(f0 / f, 3),
                         "saved_time / predicted_saving": round((1 - t / t0) / (1 - f / f0), 3) if s else None,
                         "paired_ratio_median": round(statistics.median(paired), 3) if s else None,
                         "paired_ratio_iqr": round(float(np.subtract(*np.percentile(paired, [75, 25]))), 3) if s else None})
            print({k: v for k, v in rows[-1].items() if k != "device"}, flush=True)
        del variants
    import pandas as pd

    df = pd.DataFrame(rows)
    print(f"\n{dev_name}, {a.dtype}, batch {a.batch} x {a.seq} tokens")
    print(df.drop(columns=["device", "dtype"]).to_string(index=False))
    ok = df.dropna(subset=["saved_time / predicted_saving"])
    ratio = ok.set_index(["shape", "% heads pruned"])["saved_time / predicted_saving"]
    print("\nsaved-time ratio at 50 % pruned (target >= 0.9):", ratio.xs(50, level=1).to_dict())
    print("mean saved-time ratio over 10..90 %:", ratio.groupby(level=0).mean().round(3).to_dict())
    if a.csv:
        df.to_csv(a.csv, index=False)


if __name__ == "__main__":
    main()
