"""Peak memory (RSS) of scoring and of a sweep, each in a fresh process, vs the model alone.

Also prints what storing every attention map would take (layers x heads x T^2 x examples floats),
which hpbench avoids by reducing entropy on the fly, one batch at a time.

    python benchmarks/memory.py [--n 512]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, os
os.environ.setdefault("TQDM_DISABLE", "1")
what, n, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from hpbench import models
from hpbench.tasks.encoding import encode
from hpbench.tasks import get_task
task = get_task("sst2")
model, tok = models.load("minilm", task)
enc = encode(task, tok, task.load("dev", n=n, seed=0), 128)
lengths = [len(e["input_ids"]) for e in enc]
if what == "scoring":
    from hpbench.criteria.stats import head_stats
    head_stats(model, task, enc, batch_size=32)
elif what == "sweep":
    from hpbench.run import run_benchmark
    run_benchmark(model="minilm", task="sst2", criteria=["his", "entropy", "hies", "random"], seeds=[0],
                  n_train=256, epochs=1.0, n_dev=n, n_score=n, results_dir=tmp)
print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "examples": len(enc), "mean_len": sum(lengths) / len(lengths), "max_len": max(lengths)}))
"""


def run(what: str, n: int, tmp: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, what, str(n), tmp], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=512)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = run("load", a.n, tmp)
        score = run("scoring", a.n, tmp)
        sweep = run("sweep", min(a.n, 256), tmp)
    L, H = 6, 12
    naive = L * H * base["mean_len"] ** 2 * base["examples"] * 4 / 2**20
    print(f"{'model + data loaded (MiB)':>58}: {base['peak_rss_mib']:.0f}")
    print(f"{'scoring, %d examples (MiB)' % score['examples']:>58}: {score['peak_rss_mib']:.0f}")
    print(f"{'scoring - loaded (MiB)':>58}: {score['peak_rss_mib'] - base['peak_rss_mib']:.0f}")
    print(f"{'sweep: fine-tune 256 + 4 criteria x 10 sparsities (MiB)':>58}: {sweep['peak_rss_mib']:.0f}")
    print(f"{'all attention maps of the scoring data, fp32 (MiB)':>58}: {naive:.0f}  (not stored: entropy reduced per batch)")


if __name__ == "__main__":
    main()
