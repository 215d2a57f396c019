"""Result store: one JSON file per finished piece of work, keyed by the hash of its full configuration.

Files are written atomically (temp file + rename), so a killed run leaves either a finished
result or nothing; a rerun skips every key already present. A record damaged anyway (a truncated copy, a full
disk, an edit) is set aside as ``<hash>.json.damaged-<time>`` with a warning and computed again.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.files import atomic_write_json, config_hash, remove_stale_temp, set_aside, writable_dir


class ResultStore:
    def __init__(self, root: str | Path) -> None:
        self.root = writable_dir(root)
        remove_stale_temp(self.root)

    def path(self, kind: str, config: dict[str, Any]) -> Path:
        return self.root / kind / f"{config_hash(config)}.json"

    def get(self, kind: str, config: dict[str, Any]) -> dict | None:
        p = self.path(kind, config)
        if not p.is_file():
            return None
        rec = _read(p)
        if rec is not None and rec.get("config") != json.loads(json.dumps(config, default=str)):
            set_aside(p, "its configuration is not the one its name is the hash of")
            return None
        return rec

    def put(self, kind: str, config: dict[str, Any], payload: dict[str, Any]) -> dict:
        record = {"config": config, **payload}
        path = self.path(kind, config)
        atomic_write_json(path, record)
        with open(self.root / "_writes.log", "a") as fh:  # one line per computed result (audits recomputation)
            fh.write(f"{kind}/{path.stem}\n")
        return record

    def all(self, kind: str) -> list[dict]:
        folder = self.root / kind
        if not folder.is_dir():
            return []
        return [r for r in (_read(p) for p in sorted(folder.glob("*.json"))) if r is not None]


def _read(p: Path) -> dict | None:
    """The record in ``p``, or None after setting a damaged one aside (unreadable, not JSON, not a record)."""
    try:
        rec = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        set_aside(p, f"unreadable: {type(e).__name__}: {e}")
        return None
    if not isinstance(rec, dict) or "config" not in rec:
        set_aside(p, "not a result record (no 'config')")
        return None
    return rec
