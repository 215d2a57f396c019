"""One grid cell: its notebook executed with papermill, exported to HTML, its status recorded.

A cell that raises is recorded with its error and executed notebook (the grid goes on); a finished
cell (same parameters, every table in its run folder, and the same code: :func:`code_digest`) is skipped on a
rerun. After any change of hpbench, the benchmark notebook or a plugin file the cell runs again; the result
store then reuses every stored piece whose own key (criterion source, configuration) still matches.
"""
from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

from ..core.files import PROJECT_ROOT, atomic_write_json, config_hash
from ..report.html import to_html
from .config import RunConfig
from .results import cell_status_path

NOTEBOOKS = PROJECT_ROOT / "notebooks"


class _QuietUnknownParameters:
    """Drops papermill's "Passed unknown parameter" warning: benchmark.ipynb takes every RunConfig field without
    listing them in its parameters cell (RunConfig itself rejects unknown names)."""

    def filter(self, record) -> bool:
        return "Passed unknown parameter" not in record.getMessage()


def execute(notebook: Path, output: Path, parameters: dict, *, kernel_name: str | None = None, timeout: int | None = None) -> None:
    import logging

    import papermill as pm

    logger = logging.getLogger("papermill")
    if not any(isinstance(f, _QuietUnknownParameters) for f in logger.filters):
        logger.addFilter(_QuietUnknownParameters())

    output.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(PROJECT_ROOT),
                        kernel_name=kernel_name, progress_bar=False, log_output=False, execution_timeout=timeout)


def code_digest(params: dict) -> str:
    """Hash of the code a cell's results depend on: hpbench's sources (``*.py``, ``*.yaml``), the benchmark notebook
    and the plugin files the cell loads (a plugin given as a module name: its source file when importable)."""
    import hashlib
    import importlib.util

    files = sorted(p for ext in ("*.py", "*.yaml") for p in (PROJECT_ROOT / "hpbench").rglob(ext))
    files.append(NOTEBOOKS / "benchmark.ipynb")
    for plugin in params.get("plugins") or []:
        path = Path(str(plugin))
        if not path.is_file():
            spec = importlib.util.find_spec(str(plugin)) if "/" not in str(plugin) else None
            path = Path(spec.origin) if spec is not None and spec.origin else path
        files.append(path)
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.name).encode())
        h.update(f.read_bytes() if f.is_file() else b"(missing)")
    return h.hexdigest()[:16]


def cell_run_id(params: dict) -> str:
    """The run id of a cell's parameters (model-task-language[-zeroshot...]), also for bad parameters."""
    try:
        return RunConfig(**{k: v for k, v in params.items() if k in RunConfig.__dataclass_fields__}).run_id
    except Exception:  # noqa: BLE001 - bad parameters: the notebook will report them
        return f"{Path(str(params.get('model'))).name}-{params.get('task')}-{params.get('language', 'en')}"


def _complete(run_dir: Path) -> bool:
    """Whether a run folder holds every table this hpbench writes (a folder from an older version, e.g.
    without per-example predictions, is run again: its stored pieces are reused, the missing ones computed)."""
    from .results import TABLES

    return all((run_dir / f"{t}.parquet").is_file() for t in TABLES)


def cell_paths(params: dict, results_dir: str, reports_dir: str) -> dict[str, Any]:
    """Where a cell's status record, executed notebook and HTML page go (its parameters with ``results_dir``
    resolved, the run id and the parameter hash)."""
    params = {**params, "results_dir": str(Path(results_dir).resolve())}
    run_id, key = cell_run_id(params), config_hash(params)
    runs = Path(reports_dir) / "runs"
    return {"params": params, "run_id": run_id, "key": key, "status": cell_status_path(results_dir, run_id, key),
            "notebook": runs / f"{run_id}-{key[:8]}.ipynb", "html": runs / f"{run_id}-{key[:8]}.html"}


def finished(params: dict, results_dir: str, reports_dir: str) -> dict | None:
    """The status record of a cell that already finished with the same code (its page and tables written), else None:
    such a cell is skipped by every executor."""
    p = cell_paths(params, results_dir, reports_dir)
    return _finished(p, code_digest(p["params"]))


def _finished(p: dict[str, Any], code: str) -> dict | None:
    """:func:`finished` for paths and a code digest already computed."""
    if p["status"].is_file():
        st = json.loads(p["status"].read_text())
        if (st.get("status") == "ok" and st.get("code") == code and p["html"].is_file()
                and _complete(Path(p["params"]["results_dir"]) / p["run_id"])):
            return {**st, "skipped": True}
    return None


def run_cell(params: dict, results_dir: str, reports_dir: str, *, kernel_name: str | None = None,
             extra: dict[str, Any] | None = None) -> dict:
    """Run one grid cell's notebook (skipped when already finished); return its status record (``extra``: fields the
    executor adds to it, e.g. a SLURM job id and log)."""
    p = cell_paths(params, results_dir, reports_dir)
    code = code_digest(p["params"])  # (hashes every hpbench source file: once per cell)
    done = _finished(p, code)
    if done is not None:
        return done
    params, run_id, status_path, nb_out, html_out = p["params"], p["run_id"], p["status"], p["notebook"], p["html"]
    t0 = time.perf_counter()
    rec: dict[str, Any] = {"run_id": run_id, "params": params, "notebook": str(nb_out), "html": str(html_out), "code": code,
                           **(extra or {})}
    try:
        execute(NOTEBOOKS / "benchmark.ipynb", nb_out, params, kernel_name=kernel_name)
        rec["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - a failing cell must not stop the grid
        rec["status"] = "failed"
        # a notebook's own exception (papermill wraps it with the whole traceback): its type and message
        rec["error"] = (f"{e.ename}: {e.evalue}" if getattr(e, "ename", None) else f"{type(e).__name__}: {e}")[:4000]
        rec["traceback"] = traceback.format_exc()[-4000:]
    if nb_out.is_file():
        try:
            to_html(nb_out, html_out)
        except Exception as e:  # noqa: BLE001
            rec.setdefault("error", f"HTML export failed: {e}")
    rec["seconds"] = time.perf_counter() - t0
    atomic_write_json(status_path, rec)
    return {**rec, "skipped": False}


