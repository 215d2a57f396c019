"""Result store: one JSON file per finished piece of work, keyed by the hash of its full configuration.

Files are written atomically (temp file + rename), so a killed run leaves either a finished
result or nothing; a rerun skips every key already present.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.files import atomic_write_json, config_hash, remove_stale_temp, writable_dir


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
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:  # cannot happen with atomic writes, but never trust a bad file
            p.unlink()
            return None

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
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
