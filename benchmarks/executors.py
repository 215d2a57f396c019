"""The same tiny grid through ``run_all.ipynb`` with each executor: wall time, cells, and whether the result tables are
identical to the local executor's.

    python benchmarks/executors.py [--executors local dask slurm]

``slurm`` runs on a one-node cluster brought up for the purpose (``tests/slurm_cluster.py``; needs root and Debian's
``slurmctld slurmd slurm-client munge``). The grid: a tiny random BERT (2 x 4 heads) on SST-2 and STS-B, 32 training
examples, 4 criteria, 4 levels, 2 seeds; one thread per process so every executor sums floats in the same order.
Run it with nothing else running.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def tiny_bert(folder: Path) -> str:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from hpbench.models import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def grid(model: str, out: Path, executor: str) -> dict:
    small = {"n_train": 32, "epochs": 1.0, "max_len": 32}
    return dict(models=[model], tasks=["sst2", "stsb"], criteria=["his", "hies", "random", "entropy"],
                sparsities=[0.0, 0.25, 0.5, 0.75], seeds=[0, 1], n_dev=16, n_score=8,
                overrides={"sst2": small, "stsb": small}, results_dir=str(out / "res"), reports_dir=str(out / "rep"),
                executor=executor, n_workers=None if executor == "slurm" else 2,
                resources={"cpus": 1, "time": "20:00", "poll": 0.5} if executor == "slurm" else None)


def table(res: Path) -> pd.DataFrame:
    df = pd.concat([pd.read_csv(p) for p in sorted(res.glob("*/results.csv"))], ignore_index=True)
    df = df.drop(columns=[c for c in df if c.endswith("seconds")])
    return df.sort_values(["task", "criterion", "seed", "sparsity", "metric"]).reset_index(drop=True)


def run(model: str, tmp: Path, executor: str) -> tuple[float, int, pd.DataFrame]:
    out = tmp / executor
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HPBENCH_CACHE": str(out / "cache"), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "run_all.ipynb"), str(out / "run_all.ipynb"),
           "--cwd", str(ROOT), "--no-progress-bar", "-y", yaml.safe_dump(grid(model, out, executor))]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{executor}: {p.stderr[-2000:]}")
    return seconds, len(list((out / "res" / "_cells").glob("*.json"))), table(out / "res")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executors", nargs="+", default=["local", "dask", "slurm"])
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from slurm_cluster import OneNodeCluster, why_not

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = tiny_bert(tmp / "tiny-bert")
        rows, ref = [], None
        for ex in a.executors:
            if ex == "slurm":
                if why_not():
                    print(f"slurm: skipped ({why_not()})")
                    continue
                with OneNodeCluster() as env:
                    os.environ["SLURM_CONF"] = env["SLURM_CONF"]
                    seconds, cells, t = run(model, tmp, ex)
            else:
                seconds, cells, t = run(model, tmp, ex)
            ref = t if ref is None else ref
            same = t.equals(ref)
            rows.append(f"| {ex} | {seconds:.0f} | {cells} | {len(t)} | {'yes' if same else 'NO'} |")
        print("| executor | wall time (s) | cells | result rows | identical to the first |\n|---|---|---|---|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
