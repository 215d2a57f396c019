"""Bad grid input through ``papermill run_all.ipynb``, as a user types it: seconds until the run stops, and the
last line of its message.

    python benchmarks/bad_input.py [--timeout 150] [--markdown]

Each case runs papermill in a fresh temporary results/reports folder with one bad value (the rest small and
valid). A run still going after ``--timeout`` seconds is stopped and reported as such (the bad value did not stop
it: cells, or the defaults, were running).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = """name: my_reviews
kind: classification
description: my reviews
source:
  format: tsv
  files: {train: "data:glue/SST-2/train.tsv", dev: "data:glue/SST-2/dev.tsv"}
columns: {text: sentence, label: label}
labels: [negative, positive]
metrics: [accuracy]
"""
SMALL = ["-y", "seeds: [0]", "-p", "n_dev", "16", "-p", "n_score", "8", "-y", "criteria: [his]"]
CASES = [  # (what, papermill arguments)
    ("unknown task", ["-y", "tasks: [sst3]"]),
    ("level outside [0, 1)", ["-y", "tasks: [sst2]", "-y", "sparsities: [0.0, 1.5]"]),
    ("empty level list", ["-y", "tasks: [sst2]", "-y", "sparsities: []"]),
    ("unknown language", ["-y", "tasks: [sst2]", "-y", "languages: [xx]"]),
    ("n_dev <= 0", ["-y", "tasks: [sst2]", "-p", "n_dev", "0"]),
    ("override lr <= 0", ["-y", "tasks: [sst2]", "-y", "overrides: {sst2: {lr: -1.0}}"]),
    ("misspelt parameter (sparsitys)", ["-y", "tasks: [sst2]", "-y", "sparsitys: [0.5]"]),
    ("override key naming no task (sst3)", ["-y", "tasks: [sst2]", "-y", "overrides: {sst3: {lr: 1.0e-4}}"]),
    ("override by spec name, lr <= 0", ["-y", "tasks: [{spec}]", "-y", "overrides: {my_reviews: {lr: -1.0}}"]),
    ("override by file stem, lr <= 0", ["-y", "tasks: [{spec}]", "-y", "overrides: {reviews: {lr: -1.0}}"]),
]


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("Executing", "Input Notebook",
                                                                                          "Output Notebook", "Black"))]
    return lines[-1][:220] if lines else ""


def run_case(args: list[str], timeout: float) -> tuple[float, str, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "reviews.yaml"
        spec.write_text(SPEC)
        args = [a.replace("{spec}", str(spec)) for a in args]
        cmd = [str(Path(sys.executable).parent / "papermill"), "notebooks/run_all.ipynb", f"{tmp}/out.ipynb", "--cwd", ".",
               "--no-progress-bar", *SMALL, *args, "-p", "results_dir", f"{tmp}/results", "-p", "reports_dir", f"{tmp}/reports"]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True, env={**os.environ, "TQDM_DISABLE": "1"})
        try:
            out, _ = p.communicate(timeout=timeout)
            return time.perf_counter() - t0, last_line(out), False
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            out, _ = p.communicate()
            return time.perf_counter() - t0, last_line(out), True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=150.0)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    print("| bad value | seconds | stopped? | last line |\n|---|---|---|---|")
    for what, args in CASES:
        s, line, timed_out = run_case(args, a.timeout)
        stopped = f"no: still running at {a.timeout:.0f} s" if timed_out else "yes"
        print(f"| {what} | {s:.1f} | {stopped} | `{line.replace('|', '/')}` |", flush=True)


if __name__ == "__main__":
    main()
