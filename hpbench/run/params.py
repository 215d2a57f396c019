"""List and dict parameters as papermill's ``-p`` passes them: strings.

``papermill -p seeds '[0, 1]'`` injects ``seeds = "[0, 1]"``; ``-y`` injects YAML (a real list). Every list or dict
parameter of ``run_all.ipynb`` and ``benchmark.ipynb`` goes through :func:`structured`: a string is read as
JSON/YAML and must give the expected type, else an error (before any cell starts) says to use ``-y``.
"""
from __future__ import annotations

from typing import Any

import yaml

# run_all.ipynb's structured parameters and the types they take (None is always allowed)
GRID_PARAMS: dict[str, tuple[type, ...]] = {
    "models": (list,), "tasks": (list,), "languages": (list, dict), "criteria": (list,), "sparsities": (list,),
    "seeds": (list,), "overrides": (dict,), "plugins": (list,), "run_params": (dict,), "resources": (dict,),
}


def structured(name: str, value: Any, kinds: tuple[type, ...]) -> Any:
    """``value``, or the JSON/YAML it spells when it is a string (``"[0, 1]"`` -> ``[0, 1]``); a string that does
    not parse to one of ``kinds`` is an error naming the parameter, the value and the ``-y`` form."""
    if not isinstance(value, str):
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, kinds):
        want = " or ".join("a list" if k is list else "a mapping" for k in kinds)
        raise ValueError(f"parameter {name}={value!r} must be {want}; with papermill use -y, e.g. "
                         f"-y '{name}: [...]' (or -p {name} '[\"a\", \"b\"]' with JSON inside the quotes)")
    return parsed


def grid_parameters(**params: Any) -> dict[str, Any]:
    """``run_all.ipynb``'s parameters with every list/dict one read from its string form (see module docstring)."""
    return {k: structured(k, v, GRID_PARAMS[k]) if k in GRID_PARAMS else v for k, v in params.items()}
