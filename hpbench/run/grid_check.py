"""One parse: every grid parameter and every cell's configuration checked before the first cell starts.

scikit-learn checks an estimator's parameters before it fits; a grid does the same before it runs: a misspelt
``run_all.ipynb`` parameter (papermill only warns and runs the defaults), an ``overrides`` key that names no model or
task of the grid, and every value a cell would reject (:meth:`hpbench.run.config.RunConfig.validate`) stop the grid
with one message that names each bad value, what is allowed, and the cells it concerns.
"""
from __future__ import annotations

import difflib
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

# run_all.ipynb's parameters (tests check this list against the notebook's parameters cell)
RUN_ALL_PARAMETERS = (
    "models", "tasks", "languages", "criteria", "sparsities", "seeds", "iterative", "n_dev", "n_score", "overrides",
    "profile", "plugins", "run_params", "results_dir", "reports_dir", "executor", "scheduler", "n_workers", "resources",
    "kernel_name", "device", "precision",
)


class GridConfigError(ValueError):
    """A grid that cannot run as given; the message lists every problem found."""


def closest(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or ``""``."""
    match = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_parameters(given: Mapping[str, Any], known: Sequence[str] = RUN_ALL_PARAMETERS) -> None:
    """Every parameter papermill injected is one of ``known``; else an error naming it and the closest known name."""
    unknown = [k for k in given if k not in known]
    if unknown:
        raise GridConfigError("unknown run_all.ipynb parameter(s): " + "; ".join(
            f"{k!r}{closest(k, known)}" for k in unknown) + f". Known parameters: {', '.join(known)}. (papermill "
            "only warns about these and runs the defaults; hpbench stops instead.)")


def task_names(task: str) -> list[str]:
    """Every name a grid's task answers to in ``overrides``: as typed, its label (a spec file's stem) and, for a spec
    file, the spec's own ``name``."""
    from ..tasks.lookup import get_task, is_spec_file, task_label

    names = [str(task), task_label(task)]
    if is_spec_file(task):
        try:
            names.append(get_task(task).name)
        except Exception:  # noqa: BLE001 - a spec that does not load is reported by the cell check
            pass
    return list(dict.fromkeys(names))


def override_keys(model: str, task: str) -> list[str]:
    """The ``overrides`` keys that apply to a cell, in the order they are applied (later ones win)."""
    tasks = task_names(task)
    return [str(model), Path(str(model)).name, *tasks, *(f"{m}/{t}" for m in (str(model), Path(str(model)).name)
                                                         for t in tasks)]


def check_override_keys(overrides: Mapping[str, Any] | None, models: Sequence[str], tasks: Sequence[str]) -> None:
    """Every ``overrides`` key names a model, a task (as typed, by file stem or spec name) or ``model/task`` of the
    grid, and maps to a mapping of run fields."""
    if not overrides:
        return
    valid = list(dict.fromkeys(k for m in models for t in tasks for k in override_keys(m, t)))
    bad = [k for k in overrides if k not in valid]
    if bad:
        raise GridConfigError("overrides key(s) " + "; ".join(f"{k!r}{closest(k, valid)}" for k in bad)
                              + f" name no model or task of this grid; keys that apply: {', '.join(valid)}")
    for k, v in overrides.items():
        if not isinstance(v, Mapping):
            raise GridConfigError(f"overrides[{k!r}] must be a mapping of run fields (e.g. {{lr: 1.0e-4}}), got {v!r}")


def _cell_name(cell: Mapping[str, Any]) -> str:
    from ..tasks.lookup import task_label

    return f"{Path(str(cell.get('model'))).name}/{task_label(cell.get('task'))}/{cell.get('language', 'en')}"


def validate_cells(cells: Sequence[Mapping[str, Any]], results_dir: str) -> list[Any]:
    """Each cell as a validated :class:`~hpbench.run.config.RunConfig` (the one parse); every problem of every cell
    in one :class:`GridConfigError`, each message once with the cells it concerns, before any cell starts."""
    from .config import RunConfig

    if not cells:
        raise GridConfigError("the grid has no cells: models, tasks and languages must each name at least one")
    problems: dict[str, list[str]] = defaultdict(list)
    configs = []
    for cell in cells:
        try:
            configs.append(RunConfig.from_params({**cell, "results_dir": results_dir}).validate())
        except Exception as exc:  # noqa: BLE001 - collected: the user sees every bad value at once
            problems[f"{type(exc).__name__}: {exc}"].append(_cell_name(cell))
    if problems:
        lines = [f"* {msg} [cell(s): {', '.join(dict.fromkeys(where))}]" for msg, where in problems.items()]
        raise GridConfigError(f"{sum(map(len, problems.values()))} of {len(cells)} grid cell(s) cannot run; nothing "
                              "was started:\n" + "\n".join(lines))
    return configs


def failure_summary(status) -> str:
    """The failed cells of a grid's status table, one line each (what a grid whose cells failed ends with)."""
    bad = status[status["status"] != "ok"]
    lines = [f"* {r.run_id}: {str(r.error).strip().splitlines()[-1] if isinstance(r.error, str) and r.error.strip() else r.status}"
             for r in bad.itertuples()]
    return f"{len(bad)} of {len(status)} grid cell(s) failed:\n" + "\n".join(lines)
