"""One example of a task (what every kind's reader makes and every encoder reads)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Example:
    text: Any  # a string; a list of words (token tasks); an [H, W(, C)] pixel array (image tasks)
    text_pair: str | None = None
    label: int | float | list[int] | None = None
