"""Plugins: a user's criteria, tasks or models, loaded into every process that runs a grid cell.

A plugin is a module name (``my_lab.criteria``), a ``.py`` file (imported under a name derived from its
path; importing it registers its criteria, tasks or models) or a task spec file (``.yaml``/``.yml``/``.json``,
registered as :func:`hpbench.tasks.load_task` does).
``run_all``'s ``plugins`` parameter loads them in its own process first (a missing plugin stops the grid
before any cell starts) and passes them to every cell, whose kernel loads them before it validates its
parameters, on this machine or on a dask worker alike.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from contextlib import nullcontext
from pathlib import Path

from ..core.registry import reloading
from ..tasks.lookup import SPEC_SUFFIXES, get_task, is_spec_file

_LOADED: dict[str, str] = {}  # resolved plugin -> source digest


def resolve_plugin(spec: str) -> str:
    """A path plugin as an absolute path (cells run in other working directories); a module name as is."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"plugin must be a module name or a file path, got {spec!r}")
    if spec.endswith((".py",) + SPEC_SUFFIXES) or "/" in spec or "\\" in spec:
        p = Path(spec).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"plugin file {spec!r} not found (looked at {p.resolve()}); give an existing "
                                    ".py or .yaml file, or an importable module name")
        return str(p.resolve())
    return spec


def _digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def load_plugin(spec: str) -> str:
    """Import/register one plugin (once per process per source version); return its source digest."""
    spec = resolve_plugin(spec)
    if is_spec_file(spec):
        get_task(spec)  # registers the spec's task (again if the file changed)
        digest = _digest(spec)
    elif Path(spec).is_absolute() and not spec.endswith(".py"):
        raise ValueError(f"plugin file {spec!r} is neither a .py file nor a task spec; allowed: importable module "
                         f"names, .py files, {', '.join(SPEC_SUFFIXES)} task specs")
    elif spec.endswith(".py"):
        digest = _digest(spec)
        if _LOADED.get(spec) != digest:
            name = "hpbench_plugin_" + hashlib.sha1(spec.encode()).hexdigest()[:10]
            mod_spec = importlib.util.spec_from_file_location(name, spec)
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[name] = module
            with reloading() if spec in _LOADED else nullcontext():
                mod_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(f"plugin {spec!r}: {e}; give an importable module name or a .py file") from None
        src = getattr(module, "__file__", None)
        digest = _digest(src) if src else "builtin"
    _LOADED[spec] = digest
    return digest


def load_plugins(specs: list[str] | None) -> dict[str, str]:
    """Load every plugin; return ``{plugin: source digest}``."""
    if isinstance(specs, str):
        raise ValueError(f"plugins must be a list of module names or files, got the string {specs!r}")
    return {resolve_plugin(s): load_plugin(s) for s in specs or []}
