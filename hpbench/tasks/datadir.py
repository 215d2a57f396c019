"""Where data sets are read from.

Order: the ``HPBENCH_DATA_DIR`` environment variable (must exist), else ``../shared/data`` next to
the project (or the working directory) when it exists, else ``None`` = load from the Hugging Face hub.
The layout mirrors ``../shared/data`` (see ``data/README.md``).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..core.files import PROJECT_ROOT


class DataError(ValueError):
    """Bad or missing data; the message names the file (and line) and what was expected."""


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The data directory to use, or ``None`` for the hub. ``explicit`` overrides the environment."""
    value = explicit if explicit not in (None, "") else os.environ.get("HPBENCH_DATA_DIR")
    if value not in (None, ""):
        p = Path(value).expanduser()
        if not p.is_dir():
            raise DataError(
                f"data directory {str(p)!r} does not exist or is not a directory "
                "(set HPBENCH_DATA_DIR to a folder laid out like ../shared/data, or unset it)"
            )
        return p.resolve()
    for cand in (PROJECT_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if cand.is_dir():
            return cand.resolve()
    return None


def read_tsv(path: Path, columns: list[str], *, header: bool = True, names: list[str] | None = None) -> list[dict[str, str]]:
    """Read a TSV with no quoting; every row must have the named columns (checked with file:line errors)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} not found")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        lines = [ln.rstrip("\r\n") for ln in fh]
    if not lines or (header and len(lines) < 2):
        raise DataError(f"{path}: file is empty (expected a header and rows with columns {columns})")
    if header:
        head = lines[0].split("\t")
        missing = [c for c in columns if c not in head]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; header has {head}")
        idx = {c: head.index(c) for c in columns}
        body, first = lines[1:], 2
    else:
        head = names or columns
        idx = {c: head.index(c) for c in columns}
        body, first = lines, 1
    need = max(idx.values()) + 1
    rows = []
    for n, line in enumerate(body, start=first):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < need:
            raise DataError(f"{path}:{n}: expected at least {need} tab-separated fields, got {len(parts)}")
        rows.append({c: parts[i] for c, i in idx.items()})
    if not rows:
        raise DataError(f"{path}: no data rows")
    return rows
