"""A tiny name -> object registry whose lookup errors list what is available."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")
_RELOADING = False


@contextmanager
def reloading() -> Iterator[None]:
    """Re-registration allowed inside: a plugin whose source changed is executed again and replaces its own names."""
    global _RELOADING
    before, _RELOADING = _RELOADING, True
    try:
        yield
    finally:
        _RELOADING = before


class Registry(Generic[T]):
    """Maps names to objects; ``get`` raises a ``KeyError`` naming the bad key and the choices."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T, *, overwrite: bool = False) -> T:
        """Register ``item``; a name already taken is an error unless ``overwrite=True``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items and not (overwrite or _RELOADING):
            raise NameCollisionError(
                f"{self.kind} {name!r} is already registered ({_describe(self._items[name])}); "
                f"pick another name or pass overwrite=True to replace it")
        self._items[name] = item
        return item

    def register(self, name: str, *, overwrite: bool = False) -> Callable[[T], T]:
        def deco(item: T) -> T:
            return self.add(name, item, overwrite=overwrite)

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


class UnknownNameError(KeyError, ValueError):
    """Raised for an unknown registry name; its message lists the registered names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class NameCollisionError(ValueError):
    """Raised when a registry name is taken and ``overwrite=True`` was not asked for."""


def _describe(item: object) -> str:
    fn = getattr(item, "fn", item)
    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    return f"by {mod}.{qual}" if mod and qual else type(item).__name__
