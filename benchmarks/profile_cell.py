"""Where does one grid cell's time go? cProfile over ``run_benchmark`` for one cell (fresh cache and results),
printing the functions with the most cumulative and own time.

    python benchmarks/profile_cell.py [--task rte] [--device auto] [--n-train 1000] [--top 25]
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="rte")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-dev", type=int, default=100)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HPBENCH_CACHE"] = os.path.join(tmp, "cache")
        from hpbench.run import run_benchmark

        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        t = run_benchmark(model="minilm", task=a.task, n_train=a.n_train, epochs=2.0, max_len=96, n_dev=a.n_dev,
                          n_score=128, device=a.device, precision=a.precision, results_dir=os.path.join(tmp, "res"))
        prof.disable()
        run = t["run"].iloc[0]
        print(f"cell {a.task}: {time.perf_counter() - t0:.1f} s on {run['device_name']} ({run['precision']}); "
              f"fine-tuning {run['finetune_seconds']:.1f} s")
        st = pstats.Stats(prof)
        st.sort_stats("cumulative").print_stats(a.top)
        st.sort_stats("tottime").print_stats(a.top)


if __name__ == "__main__":
    main()
