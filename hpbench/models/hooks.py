"""What every set of forward hooks hpbench installs shares: removal, and use as a context manager."""
from __future__ import annotations


class HookGroup:
    """Holds the handles of registered hooks in ``_handles``; :meth:`remove` (or leaving a ``with`` block) removes
    them all."""

    _handles: list

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
