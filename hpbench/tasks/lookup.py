"""Task lookup by registered name or by spec file path."""
from __future__ import annotations

from pathlib import Path

from .spec import TASKS, Task
from .specs import task_from_file


def get_task(name: str | Path) -> Task:
    """A registered task, or the task a spec file (``.yaml``/``.yml``/``.json``) defines (registered on first use;
    a spec file edited since is loaded again)."""
    if isinstance(name, (str, Path)) and str(name).endswith((".yaml", ".yml", ".json")):
        return task_from_file(name)
    return TASKS.get(name)
