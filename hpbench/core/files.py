"""Content-addressed cache keys and atomic writes (a finished result is never half-written)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    """Where fine-tuned checkpoints and converted weights live: ``HPBENCH_CACHE`` or ``<project>/.cache``."""
    return Path(os.environ.get("HPBENCH_CACHE", PROJECT_ROOT / ".cache"))


def file_digest(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """sha256 of a file's bytes (hex, first 16 characters)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()[:16]


def config_hash(config: dict[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.pid{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True, default=str).encode())


def atomic_dir(final: str | os.PathLike) -> Path:
    """A temporary sibling folder to fill, then :func:`commit_dir` renames it to ``final``."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.pid{os.getpid()}.", suffix=".tmp"))


def commit_dir(tmp: Path, final: str | os.PathLike) -> None:
    final = Path(final)
    if final.exists():  # someone else finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        return
    os.replace(tmp, final)


def writable_dir(path: str | os.PathLike, what: str = "results folder") -> Path:
    """Create ``path`` if needed and check it is writable, with a clear error otherwise."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"{what} {str(p)!r} is not writable ({e.strerror}); choose another folder") from None
    return p


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp(root: str | os.PathLike) -> int:
    """Delete temp files/folders left by killed writers (their pid is gone); returns how many."""
    import re

    n = 0
    root = Path(root)
    if not root.is_dir():
        return 0
    for p in list(root.rglob(".*.tmp")):
        m = re.search(r"\.pid(\d+)\.", p.name)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            n += 1
    return n


def set_aside(path: str | os.PathLike, why: str) -> Path:
    """Rename a damaged file to ``<name>.damaged-<UTC time>`` beside it (kept for inspection, never deleted, never
    read again) and warn, naming both paths and the reason."""
    path = Path(path)
    dest = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}")
    try:
        os.replace(path, dest)
    except FileNotFoundError:  # another process set it aside first
        return dest
    warnings.warn(f"damaged file {str(path)!r} ({why}) set aside as {dest.name!r}; what it held is recomputed",
                  stacklevel=3)
    return dest


@contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive inter-process lock on the file ``path`` (created if needed), held for the ``with`` block:
    writers that read, merge and rewrite shared files (two runs into one results folder) take turns."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: msvcrt locks the first byte
            import msvcrt

            while True:
                try:
                    msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.1)
            try:
                yield
            finally:
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
