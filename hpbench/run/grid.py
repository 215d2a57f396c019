"""The grid: every model x task x language cell run by an executor, then the comparison reports.

Each cell runs ``notebooks/benchmark.ipynb`` (:mod:`hpbench.run.cell`); executors are in
:mod:`hpbench.run.executors`; the index page and HTML export in :mod:`hpbench.report.html`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..core.device import resolve_device, resolve_precision
from ..core.files import atomic_write_bytes, writable_dir
from ..report.html import to_html
from .cell import NOTEBOOKS, execute
from ..criteria.base import parse_spec
from ..models.registry import check_available
from .executors import EXECUTORS
from .slurm import run_cells_slurm  # noqa: F401 - registers the "slurm" executor
from .grid_check import check_override_keys, failure_summary, override_keys, validate_cells
from .plugins import load_plugins, resolve_plugin
from .progress import GridProgress

STATUS_COLUMNS = ("run_id", "status", "skipped", "seconds", "error", "html", "notebook", "log")


def grid_cells(models: Sequence[str], tasks: Sequence[str], languages: Sequence[str] | dict = ("en",),
               common: dict | None = None, overrides: dict | None = None) -> list[dict[str, Any]]:
    """Parameter dicts for every model x task x language; ``overrides[task]`` (or ``[model]``, ``[model/task]``; a
    spec file's task also by its stem or spec name) adjusts per cell."""
    cells = []
    for m in models:
        for t in tasks:
            langs = languages.get(t, ["en"]) if isinstance(languages, dict) else languages
            for lang in langs:
                p = {"model": m, "task": t, "language": lang, **(common or {})}
                for key in override_keys(m, t):  # the model, the task as typed, its file stem or spec name, model/task
                    p.update((overrides or {}).get(key, {}))
                cells.append(p)
    return cells


def plan_grid(*, models=None, tasks=None, languages=("en",), criteria=("his",), sparsities=None, seeds=None,
              iterative: bool = False, n_dev=None, n_score=None, overrides=None, profile: str | None = None,
              plugins=(), run_params=None, resources=None, device: str = "auto", precision: str = "auto"
              ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What ``run_all.ipynb`` runs, from its parameters: list/dict ones read from papermill ``-p`` strings, the rest
    of the grid from the device's profile (:func:`hpbench.run.defaults.default_grid`). Returns (the grid: the
    profile's values plus the parsed ``languages``, ``criteria``, ``plugins``, ``run_params``, ``resources``; the
    cells)."""
    from .defaults import PROFILES, default_grid
    from .params import grid_parameters

    p = grid_parameters(models=models, tasks=tasks, languages=languages, criteria=criteria, sparsities=sparsities,
                        seeds=seeds, overrides=overrides, plugins=plugins, run_params=run_params, resources=resources)
    grid = default_grid(device, profile, **{k: p[k] for k in ("models", "tasks", "sparsities", "seeds", "overrides")},
                        n_dev=n_dev, n_score=n_score)
    check_override_keys(p["overrides"], grid["models"], grid["tasks"])  # the user's keys (the profile's are its own)
    grid.update({k: p[k] for k in ("languages", "criteria", "plugins", "resources")}, run_params=p["run_params"] or {})
    common = {"criteria": grid["criteria"], "sparsities": grid["sparsities"], "seeds": grid["seeds"], "iterative": iterative,
              "n_dev": grid["n_dev"], "n_score": grid["n_score"], "device": device, "precision": precision,
              "plugins": grid["plugins"], **grid["run_params"]}
    cells = grid_cells(grid["models"], grid["tasks"], grid["languages"], common=common, overrides=grid["overrides"])
    if p["models"] is None and p["tasks"] is None:  # the profile's own grid: its extra (cross-lingual) cells too
        cells += [{**common, **extra} for extra in PROFILES[grid["profile"]].extra_cells]
    return grid, expand_score_languages(expand_axes(cells))


AXES = ("gqa_unit", "layer_uniform", "recovery")  # RunConfig fields a grid may list: each value is a cell of its own


def expand_axes(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One cell per value of every listed axis field (``run_params: {gqa_unit: [query, group]}``: two runs)."""
    for axis in AXES:
        cells = [{**c, axis: v} for c in cells for v in (c[axis] if isinstance(c.get(axis), list) else [c.get(axis)])]
        cells = [{k: v for k, v in c.items() if not (k == axis and v is None)} for c in cells]
    return cells


def expand_score_languages(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``score_language: each`` (Ma et al. 2021's protocol beside "score on the training language"): the cell as
    given, scored on its training language, plus one cell per other eval language that has training data for the
    task, scored on that language's training data and evaluated on that language (the same fine-tuned model).
    A list (``[de, zh]``) does the same for those languages only (each must have training data). The added cells
    come after every given one: they reuse its fine-tuned model instead of waiting for it."""
    from ..tasks.lookup import get_task

    out, scored = [], []
    for c in cells:
        want = c.get("score_language")
        if want != "each" and not isinstance(want, (list, tuple)):
            out.append(c)
            continue
        base = {k: v for k, v in c.items() if k != "score_language"}
        out.append(base)
        task, lang = get_task(c["task"]), c.get("language", "en")
        targets = [x for x in c.get("eval_languages") or [] if x != lang] if want == "each" else list(want)
        for target in targets:
            try:
                task.load("train", language=target, n=1, data_root=c.get("data_root"))
            except (OSError, ValueError, KeyError) as e:  # no training data in that language: nothing to score on
                if want == "each":
                    continue
                raise ValueError(f"score_language {target!r} for task {c['task']!r}: no training data to score heads "
                                 f"on ({e})") from None
            scored.append({**base, "score_language": target, "eval_languages": [target]})
    return out + scored


def check_cell(cell: dict) -> dict:
    """What can be checked before any cell starts: plugins load (and are passed on as absolute paths), the model
    is a local folder or a hub id this machine can fetch, the criteria exist, device and precision are valid here. Returns the cell with resolved plugin paths."""
    cell = {**cell, "plugins": [resolve_plugin(p) for p in cell.get("plugins") or []]}
    load_plugins(cell["plugins"])
    check_available(cell["model"])
    for spec in cell.get("criteria") or []:
        parse_spec(spec)
    resolve_precision(cell.get("precision", "auto"), resolve_device(cell.get("device", "auto")))
    return cell


def run_grid(cells: Sequence[dict], *, results_dir: str = "results", reports_dir: str = "reports", executor: str = "local",
             scheduler: str | None = None, n_workers: int | None = None, resources: dict | None = None,
             kernel_name: str | None = None) -> pd.DataFrame:
    """Run every cell with a registered executor (``"local"``: ``n_workers`` cells side by side on this
    machine, 1 = one after another, None = one per GPU or 2 on a CPU; ``"dask"``: one dask task per cell on a
    LocalCluster or ``scheduler``; ``"slurm"``: one SLURM job per cell with ``resources``, :mod:`hpbench.run.slurm`)."""
    run = EXECUTORS.get(executor)
    cells = [check_cell(c) for c in cells]
    validate_cells(cells, str(Path(results_dir).resolve()))  # every cell's every value, before any cell starts
    writable_dir(results_dir)
    writable_dir(reports_dir, "reports folder")
    progress = GridProgress(len(cells), results_dir, what=f"grid ({executor} executor)")
    statuses = run(cells, results_dir, reports_dir, n_workers=n_workers, scheduler=scheduler, resources=resources,
                   kernel_name=kernel_name, on_done=progress.done)
    return pd.DataFrame([{k: s.get(k) for k in STATUS_COLUMNS} for s in statuses])


def render_notebook(name: str, reports_dir: str, parameters: dict, *, kernel_name: str | None = None) -> Path:
    """Execute ``notebooks/<name>.ipynb`` with ``parameters`` into ``reports/<name>.ipynb`` and export its HTML."""
    nb_out = Path(reports_dir) / f"{name}.ipynb"
    execute(NOTEBOOKS / f"{name}.ipynb", nb_out, parameters, kernel_name=kernel_name)
    out = Path(reports_dir) / f"{name}.html"
    to_html(nb_out, out)
    return out


def render_comparison(results_dir: str, reports_dir: str, *, status: pd.DataFrame | None = None,
                      kernel_name: str | None = None, title: str = "hpbench comparison", plugins=()) -> list[Path]:
    """Render ``comparison.html`` over every run in ``results_dir`` and, when zero-shot runs exist,
    ``crosslingual.html``; return the HTML paths."""
    status_csv = Path(reports_dir) / "grid_status.csv"
    if status is not None:
        atomic_write_bytes(status_csv, status.to_csv(index=False).encode())
    res = str(Path(results_dir).resolve())
    pages = [render_notebook("comparison", reports_dir, {"results_dir": res, "status_csv": str(status_csv.resolve()),
                                                         "title": title, "reports_dir": str(Path(reports_dir).resolve()),
                                                         "plugins": [resolve_plugin(p) for p in plugins or []]},
                             kernel_name=kernel_name)]
    if any(p.is_dir() and "-zeroshot" in p.name for p in Path(results_dir).iterdir()):
        pages.append(render_notebook("crosslingual", reports_dir, {"results_dir": res}, kernel_name=kernel_name))
    return pages




def finish_grid(status: pd.DataFrame, results_dir: str, reports_dir: str, *, kernel_name: str | None = None,
                plugins=(), note: str = "") -> Path:
    """After the cells: the comparison reports over every finished run in ``results_dir`` (none when no cell of the
    store has finished), ``index.html``; a grid with failed cells then raises a summary naming each cell's error."""
    from ..report.html import write_index
    from .results import all_statuses

    every = all_statuses(results_dir)  # this grid and earlier ones into the same results folder
    if len(every) and (every["status"] == "ok").any():
        render_comparison(results_dir, reports_dir, status=every, kernel_name=kernel_name, plugins=plugins)
    index = write_index(reports_dir, every if len(every) else status, note=note)
    if len(status) and (status["status"] != "ok").any():
        raise RuntimeError(failure_summary(status) + f"\nExecuted notebooks and logs are linked from {index}")
    return index
