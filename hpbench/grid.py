"""Execute the benchmark grid with papermill and render the HTML reports.

Each grid cell (model x task x language) runs ``notebooks/benchmark.ipynb`` with its parameters; the
executed notebook is saved and exported to HTML with code hidden. A cell that raises is recorded
with its error and executed notebook, the other cells go on, and ``reports/index.html`` lists it.
A finished cell (same parameters) is skipped on a rerun.
"""
from __future__ import annotations

import html
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .cache import atomic_write_bytes, atomic_write_json, config_hash, writable_dir
from .datadir import PROJECT_ROOT

NOTEBOOKS = PROJECT_ROOT / "notebooks"
EXECUTORS = ("local", "dask")


def grid_cells(models: Sequence[str], tasks: Sequence[str], languages: Sequence[str] | dict = ("en",),
               common: dict | None = None, overrides: dict | None = None) -> list[dict[str, Any]]:
    """Parameter dicts for every model x task x language; ``overrides[task]`` (or ``[model]``) adjusts per cell."""
    cells = []
    for m in models:
        for t in tasks:
            langs = languages.get(t, ["en"]) if isinstance(languages, dict) else languages
            for lang in langs:
                p = {"model": m, "task": t, "language": lang, **(common or {})}
                for key in (m, t, f"{m}/{t}"):
                    p.update((overrides or {}).get(key, {}))
                cells.append(p)
    return cells


def to_html(nb_path: Path, html_path: Path) -> None:
    """Export an executed notebook to HTML with code, prompts and stderr (progress bars) hidden."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(nb_path), as_version=4)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    atomic_write_bytes(html_path, body.encode())


def execute(notebook: Path, output: Path, parameters: dict, *, kernel_name: str | None = None, timeout: int | None = None) -> None:
    import papermill as pm

    output.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(PROJECT_ROOT),
                        kernel_name=kernel_name, progress_bar=False, log_output=False, execution_timeout=timeout)


def cell_run_id(params: dict) -> str:
    """The run id of a cell's parameters (model-task-language[-zeroshot...]), also for bad parameters."""
    from .sweep import RunConfig

    try:
        return RunConfig(**{k: v for k, v in params.items() if k in RunConfig.__dataclass_fields__}).run_id
    except Exception:  # noqa: BLE001 - bad parameters: the notebook will report them
        return f"{Path(str(params.get('model'))).name}-{params.get('task')}-{params.get('language', 'en')}"


def run_cell(params: dict, results_dir: str, reports_dir: str, *, kernel_name: str | None = None) -> dict:
    """Run one grid cell's notebook (skipped when already finished); return its status record."""
    params = {**params, "results_dir": str(Path(results_dir).resolve())}
    run_id = cell_run_id(params)
    key = config_hash(params)
    status_path = Path(results_dir) / "_cells" / f"{run_id}-{key}.json"
    nb_out = Path(reports_dir) / "runs" / f"{run_id}-{key[:8]}.ipynb"
    html_out = Path(reports_dir) / "runs" / f"{run_id}-{key[:8]}.html"
    if status_path.is_file():
        st = json.loads(status_path.read_text())
        if st.get("status") == "ok" and html_out.is_file():
            return {**st, "skipped": True}
    t0 = time.perf_counter()
    rec: dict[str, Any] = {"run_id": run_id, "params": params, "notebook": str(nb_out), "html": str(html_out)}
    try:
        execute(NOTEBOOKS / "benchmark.ipynb", nb_out, params, kernel_name=kernel_name)
        rec["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - a failing cell must not stop the grid
        rec["status"] = "failed"
        rec["error"] = f"{type(e).__name__}: {e}"[:4000]
        rec["traceback"] = traceback.format_exc()[-4000:]
    if nb_out.is_file():
        try:
            to_html(nb_out, html_out)
        except Exception as e:  # noqa: BLE001
            rec.setdefault("error", f"HTML export failed: {e}")
    rec["seconds"] = time.perf_counter() - t0
    atomic_write_json(status_path, rec)
    return {**rec, "skipped": False}


def run_grid(cells: Sequence[dict], *, results_dir: str = "results", reports_dir: str = "reports", executor: str = "local",
             scheduler: str | None = None, n_workers: int = 2, resources: dict | None = None,
             kernel_name: str | None = None) -> pd.DataFrame:
    """Run every cell. ``executor="local"``: ``n_workers`` cells side by side on this machine (1: one after
    another); ``"dask"``: one dask task per cell on a LocalCluster of ``n_workers`` or on ``scheduler``."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; allowed: {', '.join(EXECUTORS)}")
    writable_dir(results_dir)
    writable_dir(reports_dir, "reports folder")
    from tqdm.auto import tqdm

    if executor == "local" and (n_workers <= 1 or len(cells) <= 1):
        statuses = [run_cell(c, results_dir, reports_dir, kernel_name=kernel_name) for c in tqdm(cells, desc="grid")]
    elif executor == "local":
        statuses = _run_cells_side_by_side(cells, results_dir, reports_dir, n_workers=n_workers, kernel_name=kernel_name)
    else:
        from .dask_executor import run_cells_dask

        statuses = run_cells_dask(cells, results_dir, reports_dir, scheduler=scheduler, n_workers=n_workers,
                                  resources=resources, kernel_name=kernel_name)
    return pd.DataFrame([{k: s.get(k) for k in ("run_id", "status", "skipped", "seconds", "error", "html", "notebook")} for s in statuses])


def threads_per_worker(n_workers: int) -> int:
    """Cores split evenly between cells that run side by side."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, n_workers))


def _set_threads(n: int) -> None:
    # read by torch/MKL/OpenMP in the worker and in the notebook kernels it starts; a user's setting wins
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))


def _run_cells_side_by_side(cells: Sequence[dict], results_dir: str, reports_dir: str, *, n_workers: int,
                            kernel_name: str | None) -> list[dict]:
    """``n_workers`` cells at a time, each in its own process with cores // n_workers threads.

    On 2 CPU cores two one-thread cells do more work per second than one two-thread cell (matrix
    products at these sizes scale 1.5-1.7x from 1 to 2 threads; ``benchmarks/thread_scaling.py``), and
    the single-threaded parts (kernel start, tokenising, HTML export) overlap. Longest cells start first."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    n = min(n_workers, len(cells))
    order = sorted(range(len(cells)), key=lambda i: -_expected_cost(cells[i]))
    with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn"), initializer=_set_threads,
                             initargs=(threads_per_worker(n),)) as pool:
        futs = {pool.submit(run_cell, cells[i], results_dir, reports_dir, kernel_name=kernel_name): i for i in order}
        done: dict[int, dict] = {}
        for f in tqdm(as_completed(futs), total=len(futs), desc=f"grid ({n} side by side)"):
            try:
                done[futs[f]] = f.result()
            except Exception as e:  # noqa: BLE001 - e.g. a worker killed by the OOM killer: record, go on
                done[futs[f]] = {"run_id": cell_run_id(cells[futs[f]]), "status": "failed", "error": f"worker process died: {type(e).__name__}: {e}"[:4000],
                                 "seconds": None, "skipped": False}
    return [done[i] for i in range(len(cells))]


def _expected_cost(p: dict) -> float:
    """Rough relative cost of a cell in token passes, to start long cells first: a training example
    counts ~3 forward passes plus a per-step overhead worth ~16 tokens; lengths are estimated from
    200 local training examples (4 characters per token), else ``max_len``."""
    evals = len(p.get("criteria", [1])) * len(p.get("sparsities", [1])) * len(p.get("seeds", [1]))
    max_len = p.get("max_len", 128)
    length = float(max_len)
    try:
        from .datadir import data_dir
        from .tasks import get_task

        if data_dir(p.get("data_root")) is not None:  # never the hub just for a schedule
            ex = get_task(p["task"]).load("train", language=p.get("language", "en"), n=200, data_root=p.get("data_root"))
            chars = [len(" ".join(e.text) if isinstance(e.text, list) else e.text) + len(e.text_pair or "") for e in ex]
            length = min(max_len, sum(chars) / len(chars) / 4 + 3)
    except Exception:  # noqa: BLE001 - bad parameters fail in the cell itself, with a clear error
        pass
    train = 3 * (p.get("n_train") or 10_000) * float(p.get("epochs", 1)) * (length + 16)
    return train + evals * (p.get("n_dev") or 500) * length * len(p.get("eval_languages") or [1])


def render_notebook(name: str, reports_dir: str, parameters: dict, *, kernel_name: str | None = None) -> Path:
    """Execute ``notebooks/<name>.ipynb`` with ``parameters`` into ``reports/<name>.ipynb`` and export its HTML."""
    nb_out = Path(reports_dir) / f"{name}.ipynb"
    execute(NOTEBOOKS / f"{name}.ipynb", nb_out, parameters, kernel_name=kernel_name)
    out = Path(reports_dir) / f"{name}.html"
    to_html(nb_out, out)
    return out


def render_comparison(results_dir: str, reports_dir: str, *, status: pd.DataFrame | None = None,
                      kernel_name: str | None = None, title: str = "hpbench comparison") -> list[Path]:
    """Render ``comparison.html`` over every run in ``results_dir`` and, when zero-shot runs exist,
    ``crosslingual.html``; return the HTML paths."""
    status_csv = Path(reports_dir) / "grid_status.csv"
    if status is not None:
        atomic_write_bytes(status_csv, status.to_csv(index=False).encode())
    res = str(Path(results_dir).resolve())
    pages = [render_notebook("comparison", reports_dir, {"results_dir": res, "status_csv": str(status_csv.resolve()),
                                                         "title": title}, kernel_name=kernel_name)]
    if any(p.is_dir() and "-zeroshot" in p.name for p in Path(results_dir).iterdir()):
        pages.append(render_notebook("crosslingual", reports_dir, {"results_dir": res}, kernel_name=kernel_name))
    return pages


def all_statuses(results_dir: str) -> pd.DataFrame:
    """Latest status record of every grid cell ever run into ``results_dir`` (for the index page)."""
    recs = []
    for p in sorted((Path(results_dir) / "_cells").glob("*.json")):
        r = json.loads(p.read_text())
        r["criteria"] = ", ".join(r.get("params", {}).get("criteria", []))
        r["mtime"] = p.stat().st_mtime
        recs.append(r)
    cols = ["run_id", "status", "seconds", "error", "html", "notebook", "criteria"]
    df = pd.DataFrame(recs)
    return df.sort_values("mtime").reindex(columns=cols) if len(df) else pd.DataFrame(columns=cols)


def write_index(reports_dir: str, status: pd.DataFrame, *, extra_links: Sequence[tuple[str, str]] = (),
                note: str = "") -> Path:
    """``reports/index.html``: links to the comparison report and every run, failed cells listed."""
    root = Path(reports_dir).resolve()
    rows = []
    for _, r in status.iterrows():
        link = os.path.relpath(r["html"], root) if isinstance(r.get("html"), str) and Path(r["html"]).is_file() else None
        name = f'<a href="{html.escape(link)}">{html.escape(r["run_id"])}</a>' if link else html.escape(r["run_id"])
        err = html.escape(str(r["error"])) if isinstance(r.get("error"), str) else ""
        crit = html.escape(str(r.get("criteria") or ""))
        rows.append(f"<tr><td>{name}</td><td>{crit}</td><td class='{r['status']}'>{r['status']}</td>"
                    f"<td>{(r['seconds'] or 0):.0f}</td><td><code>{err}</code></td></tr>")
    n_fail = int((status["status"] != "ok").sum()) if len(status) else 0
    links = "".join(f'<li><a href="{html.escape(h)}">{html.escape(t)}</a></li>' for t, h in extra_links)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>hpbench reports</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd}}
.ok{{color:#176}}.failed{{color:#b00;font-weight:bold}}</style></head><body>
<h1>hpbench reports</h1><p>{html.escape(note)}</p>
<ul><li><a href="comparison.html">Comparison across runs</a> (curves, head maps, stability, AUC, prunable heads, overlap, cost)</li>
{'<li><a href="crosslingual.html">Cross-lingual report</a> (language x criterion, zero-shot transfer, head overlap across languages)</li>' if (root / "crosslingual.html").is_file() else ''}{links}</ul>
<h2>Runs ({len(status)} cells, {n_fail} failed)</h2>
<table><tr><th>run</th><th>criteria</th><th>status</th><th>seconds</th><th>error</th></tr>{''.join(rows)}</table>
</body></html>"""
    out = root / "index.html"
    atomic_write_bytes(out, page.encode())
    return out
