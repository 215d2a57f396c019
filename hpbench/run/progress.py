"""Grid progress on the terminal: one line per finished cell and the overall count with an ETA.

Lines go to the process's real stderr (``sys.__stderr__``), which is the terminal of ``make report`` even
when the grid runs inside the papermill kernel of ``run_all.ipynb`` (the notebook keeps its own tqdm bar).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

import pandas as pd


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def unpruned_score(results_dir: str | Path, run_id: str) -> str:
    """``metric=value`` of the unpruned model's main metric for a finished run ("" when not stored)."""
    path = Path(results_dir) / run_id / "run.parquet"
    try:
        run = pd.read_parquet(path)
        metric = run["main_metric"].iloc[0]
        return f"{metric}={run[f'dense_{metric}'].mean():.4f}"
    except (OSError, KeyError, IndexError, ValueError):
        return ""


class GridProgress:
    """``done(status)`` after each cell: ``[k/n] run_id status seconds score | elapsed, ETA``."""

    def __init__(self, n_cells: int, results_dir: str | Path, *, stream: TextIO | None = None, what: str = "grid") -> None:
        self.n, self.k, self.results_dir = n_cells, 0, results_dir
        self.stream = stream or sys.__stderr__ or sys.stderr
        self.t0 = time.perf_counter()
        self._print(f"{what}: {n_cells} cell(s)")

    def _print(self, line: str) -> None:
        print(f"[hpbench] {line}", file=self.stream, flush=True)

    def done(self, status: dict) -> None:
        self.k += 1
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.k * (self.n - self.k)
        secs = "skipped (finished earlier)" if status.get("skipped") else f"{status.get('seconds') or 0:.0f} s"
        score = unpruned_score(self.results_dir, status.get("run_id", "")) if status.get("status") == "ok" else \
            str(status.get("error", ""))[:120].replace("\n", " ")
        self._print(f"[{self.k}/{self.n}] {status.get('run_id')} {status.get('status')} {secs} {score} | "
                    f"elapsed {_clock(elapsed)}, ETA {_clock(eta)}")
