"""Does pruning FFN neurons pay as its FLOPs say? Latency of models pruned to a FLOPs budget (Kwon et al. 2022's
setting: heads and FFN neurons) vs heads-only pruning, vs what the FLOP count predicts.

minilm's shape (6 x 12 heads, d 384, FFN 1536; random weights: latency does not depend on the values), batch 32 x
128 tokens. Variants: the dense model; heads only at 50 % and 90 % of heads (random global choice); and for each
FLOPs budget the structure ``kwon``'s search picks: with ``--masks`` (a run folder's ``masks.parquet``) the
masks a real run chose at each of its levels (first seed), else 25 % and 50 % of the FLOPs removed by the search on
random Fisher scores (the split between heads and neurons follows the unit costs, so it is typical).
Printed per variant: latency (best of interleaved rounds), FLOPs, measured speedup, FLOP speedup and

    saved-time ratio = (1 - t / t_dense) / (1 - F / F_dense)    (1 = the FLOP count's promise kept)

    python benchmarks/ffn_speed.py [--rounds 10] [--device cpu] [--dtype float32] [--masks results/minilm-sst2-en/masks.parquet]
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pruning_speed import _base_model, _forward_time  # noqa: E402

from hpbench.criteria.kwon_search import search_mac  # noqa: E402
from hpbench.models.ffn import prune_neurons  # noqa: E402
from hpbench.models.flops import encoder_flops  # noqa: E402
from hpbench.models.heads import prune_heads  # noqa: E402
from hpbench.models.masks import mask_from_key  # noqa: E402


def _budget_masks(cfg, shares, masks_file: str | None) -> dict[float, tuple[torch.Tensor, torch.Tensor]]:
    L, H, N = cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size
    if masks_file:
        import pandas as pd

        m = pd.read_parquet(masks_file)
        m = m[(m["ffn_mask"].fillna("") != "") & (m["seed"] == m["seed"].min())]
        return {float(r.sparsity): (mask_from_key(r.mask, (L, H)), mask_from_key(r.ffn_mask, (L, N)))
                for r in m.itertuples() if float(r.sparsity) > 0}  # every level the run searched
    g = torch.Generator().manual_seed(0)
    head, neuron = torch.rand(L, H, generator=g), torch.rand(L, N, generator=g)
    d = cfg.hidden_size
    return {s: search_mac(head, neuron, 128, d, d // H, 1 - s) for s in shares}  # kwon's MAC search at 128 tokens


def _variants(base, shares, masks_file):
    cfg = base.config
    L, H = cfg.num_hidden_layers, cfg.num_attention_heads
    order = torch.randperm(L * H, generator=torch.Generator().manual_seed(1))
    out = {"dense": base}
    for s in (0.5, 0.9):
        keep = torch.ones(L * H, dtype=torch.bool)
        keep[order[: int(round(s * L * H))]] = False
        out[f"heads only, {int(100 * s)} % of heads"] = prune_heads(copy.deepcopy(base), keep.view(L, H))
    for s, (kh, kn) in _budget_masks(cfg, shares, masks_file).items():
        name = f"heads + FFN, {int(100 * s)} % FLOPs budget ({int((~kh).sum())} heads, {int((~kn).sum())} neurons pruned)"
        out[name] = prune_neurons(prune_heads(copy.deepcopy(base), kh), kn)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--masks", default=None, help="a run folder's masks.parquet with kwon masks")
    a = ap.parse_args()
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    torch.manual_seed(0)
    base = _base_model("minilm", a.seq).eval().to(a.device, getattr(torch, a.dtype))
    variants = {k: m.to(a.device, getattr(torch, a.dtype)) for k, m in _variants(base, [0.25, 0.5], a.masks).items()}
    ids = torch.randint(5, 1000, (a.batch, a.seq), device=a.device)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    times = {k: [] for k in variants}
    for m in variants.values():
        for _ in range(2):
            _forward_time(m, inputs, sync)
    rng = random.Random(0)
    for _ in tqdm(range(a.rounds), desc="rounds"):
        keys = list(variants)
        rng.shuffle(keys)
        for k in keys:
            times[k].append(_forward_time(variants[k], inputs, sync))
    t0, f0 = min(times["dense"]), encoder_flops(base, a.batch, a.seq)
    dev = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"cpu x{torch.get_num_threads()} threads"
    print(f"\n{dev}, {a.dtype}, batch {a.batch} x {a.seq} tokens, best of {a.rounds} interleaved rounds")
    print(f"{'variant':<70} {'ms':>8} {'GFLOPs':>8} {'speedup':>8} {'FLOP x':>7} {'saved/predicted':>16}")
    for k, m in variants.items():
        t, f = min(times[k]), encoder_flops(m, a.batch, a.seq)
        ratio = f"{(1 - t / t0) / (1 - f / f0):.3f}" if f < f0 else "-"
        print(f"{k:<70} {1000 * t:8.1f} {f / 1e9:8.1f} {t0 / t:8.2f} {f0 / f:7.2f} {ratio:>16}")


if __name__ == "__main__":
    main()
