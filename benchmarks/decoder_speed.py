"""Decoder speed after head pruning: prefill latency, decode tokens/s with the KV cache, and KV-cache bytes, dense vs
pruned at 25 % and 50 % of query heads for each pruning unit, ratios measured in one run with interleaved rounds.

    python benchmarks/decoder_speed.py [--model smollm2-135m] [--device cpu] [--dtype fp32|bf16] [--rounds 3]
                                       [--batch 4] [--prompt 128] [--new 64] [--json out.json]

Model: ``--model`` names a registry model (the real SmolLM2-135M, 30 x 9 query / 3 KV heads, dequantised from 4-bit
GGUF; Gemma-3-270M, 18 x 4 / 1); by default a Llama-shaped decoder with random weights (seeded; speed does not depend
on their values): 8 layers, d_model 1024, 16 query / 4 KV heads of 64, SwiGLU FFN 2816, vocabulary 32,000. Masks come from random scores;
``query`` prunes query heads one by one (globally, uneven across layers and groups), ``group`` whole KV groups
and ``balanced`` the same count per group, both with ``layer_uniform`` (the same count per layer). Each pruned
model is saved with ``hpbench.save_pretrained`` and loaded back as a user would: a standard checkpoint through
plain ``AutoModelForCausalLM`` (sdpa) where the structure allows, else ``hpbench.from_pretrained`` (hpbench's
eager grouped attention); the ``format`` and ``attention`` columns say which.

Prefill: one forward over batch x prompt tokens with the cache on. Decode: ``--new`` single-token steps from that
cache (greedy), timed alone. KV-cache bytes: the key and value tensors held after prompt + new tokens.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch

SHAPE = dict(num_hidden_layers=8, hidden_size=1024, num_attention_heads=16, num_key_value_heads=4,
             intermediate_size=2816, vocab_size=32000, max_position_embeddings=2048)


def build(dtype: torch.dtype, device: str, name: str | None = None):
    """The random Llama-shaped decoder, or the registry model ``name`` (its real weights); SHAPE follows the model."""
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if name:
        from hpbench.models.registry import resolve_model

        m = AutoModelForCausalLM.from_pretrained(resolve_model(name), attn_implementation="sdpa")
        c = m.config
        SHAPE.update(num_hidden_layers=c.num_hidden_layers, hidden_size=c.hidden_size, num_attention_heads=c.num_attention_heads,
                     num_key_value_heads=c.num_key_value_heads, intermediate_size=c.intermediate_size,
                     vocab_size=c.vocab_size)
        return m.to(dtype).to(device).eval()
    m = LlamaForCausalLM(LlamaConfig(**SHAPE)).to(dtype).to(device).eval()
    m.set_attn_implementation("sdpa")
    return m


def variants(dense, share: float, unit: str, tmp: str, dtype, device):
    """(format, model) of ``dense`` pruned at ``share`` of query heads in ``unit``s, saved and reloaded."""
    import copy

    import hpbench
    from hpbench.criteria.masks import n_to_prune
    from hpbench.criteria.units import unit_keep

    L, H, kv = SHAPE["num_hidden_layers"], SHAPE["num_attention_heads"], SHAPE["num_key_value_heads"]
    scores = torch.rand(L, H, generator=torch.Generator().manual_seed(1))
    keep = unit_keep(scores, n_to_prune(L * H, share), kv, unit, layer_uniform=unit != "query")
    m = hpbench.prune_heads(copy.deepcopy(dense).float().cpu(), keep)
    path = f"{tmp}/{unit}-{share}"
    fmt = hpbench.save_pretrained(m, path)
    if fmt == "standard":
        from transformers import AutoModelForCausalLM

        back = AutoModelForCausalLM.from_pretrained(path, attn_implementation="sdpa")
    else:
        back = hpbench.from_pretrained(path)
    return fmt, back.to(dtype).to(device).eval(), 1 - keep.float().mean().item()


def cache_bytes(cache) -> int:
    total = 0
    for layer in getattr(cache, "layers", []):
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if t is not None:
                total += t.numel() * t.element_size()
    return total


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def measure(model, ids, new: int, device: str) -> tuple[float, float, int]:
    """(prefill seconds, decode seconds for ``new`` steps, KV-cache bytes at the end)."""
    sync(device)
    t0 = time.perf_counter()
    out = model(input_ids=ids, use_cache=True)
    sync(device)
    t1 = time.perf_counter()
    cache, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
    for _ in range(new):
        out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
        cache, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
    sync(device)
    return t1 - t0, time.perf_counter() - t1, cache_bytes(cache)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="a registry decoder (smollm2-135m, gemma3-270m); default: random Llama")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default=None, help="default: bf16 on CUDA, fp32 on CPU")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--new", type=int, default=64)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.new < 1 or a.rounds < 1 or a.batch < 1 or a.prompt < 1:
        raise SystemExit(f"--new, --rounds, --batch and --prompt must be >= 1; got {a.new}, {a.rounds}, {a.batch}, {a.prompt}")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[a.dtype or ("bf16" if a.device.startswith("cuda") else "fp32")]
    dense = build(dtype, a.device, a.model)
    models = {"dense": ("plain", dense, 0.0)}
    with tempfile.TemporaryDirectory() as tmp:
        for share in (0.25, 0.5):
            for unit in ("query", "group", "balanced"):
                models[f"{unit} {int(share * 100)} %"] = variants(dense, share, unit, tmp, dtype, a.device)
    ids = torch.randint(0, SHAPE["vocab_size"], (a.batch, a.prompt), generator=torch.Generator().manual_seed(2)).to(a.device)
    for m in models.values():  # warm-up
        measure(m[1], ids[:, :8], 2, a.device)
    times = {k: ([], [], 0) for k in models}
    names = list(models)
    for r in range(a.rounds):
        for k in names[r % len(names):] + names[: r % len(names)]:  # interleaved, rotated start
            p, d, b = measure(models[k][1], ids, a.new, a.device)
            times[k][0].append(p)
            times[k][1].append(d)
            times[k] = (times[k][0], times[k][1], b)
        print(f"round {r + 1}/{a.rounds} done", flush=True)
    rows = report(models, times, a, dtype)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


def report(models, times, a, dtype) -> list[dict]:
    p0, d0, b0 = statistics.median(times["dense"][0]), statistics.median(times["dense"][1]), times["dense"][2]
    rows = []
    what = f"{a.model} (real weights, dequantised from 4-bit GGUF)" if a.model else "Llama-shaped random decoder"
    print(f"\n{what} {SHAPE}, {a.device} {str(dtype).split('.')[-1]}, batch {a.batch} x prompt "
          f"{a.prompt}, {a.new} new tokens, median of {a.rounds} interleaved rounds\n")
    print(f"{'model':<15} {'format':<9} {'attention':<12} {'heads pruned':>12} {'prefill ms':>10} {'x dense':>8} "
          f"{'decode tok/s':>12} {'x dense':>8} {'KV MiB':>8} {'x dense':>8}")
    for k, (fmt, m, pruned) in models.items():
        p, d, b = statistics.median(times[k][0]), statistics.median(times[k][1]), times[k][2]
        tps = a.batch * a.new / d
        row = {"model": k, "format": fmt, "attention": m.config._attn_implementation, "heads_pruned": round(pruned, 4),
               "prefill_ms": 1e3 * p, "prefill_x_dense": p0 / p, "decode_tok_s": tps, "decode_x_dense": d0 / d,
               "kv_mib": b / 2**20, "kv_x_dense": b / b0}
        rows.append(row)
        print(f"{k:<15} {fmt:<9} {row['attention']:<12} {pruned:>12.0%} {row['prefill_ms']:>10.1f} "
              f"{row['prefill_x_dense']:>8.2f} {tps:>12.1f} {row['decode_x_dense']:>8.2f} {row['kv_mib']:>8.1f} "
              f"{row['kv_x_dense']:>8.2f}")
    print("\nx dense: speed-up (prefill, decode) or memory share (KV) relative to the dense model in the same run.")
    return rows


if __name__ == "__main__":
    main()
