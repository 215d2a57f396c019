"""Task lookup by registered name or by spec file path."""
from __future__ import annotations

from pathlib import Path

from .spec import TASKS, Task
from .specs import task_from_file

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def is_spec_file(name: str | Path) -> bool:
    """Whether a task given by name is a spec file rather than a registered name."""
    return isinstance(name, (str, Path)) and str(name).endswith(SPEC_SUFFIXES)


def task_label(name: str | Path) -> str:
    """A task for run ids, titles and tables: a spec file's stem (``my_reviews`` for ``.../my_reviews.yaml``),
    else the registered name."""
    return Path(str(name).replace("\\", "/")).stem if is_spec_file(name) else str(name)


def get_task(name: str | Path) -> Task:
    """A registered task, or the task a spec file (``.yaml``/``.yml``/``.json``) defines (registered on first use;
    a spec file edited since is loaded again)."""
    if is_spec_file(name):
        return task_from_file(name)
    return TASKS.get(name)
