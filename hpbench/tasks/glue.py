"""GLUE tasks as shipped specs (``hpbench/tasks/builtin/*.yaml``): ``<data_dir>/glue/<TASK>/*.tsv`` (layout of
``../shared/data``) or, with no data directory, ``datasets.load_dataset("nyu-mll/glue", task)``."""
from __future__ import annotations

from pathlib import Path

from .specs import load_task

BUILTIN = Path(__file__).resolve().parent / "builtin"
GLUE = ["cola", "mrpc", "rte", "sst2", "stsb"]

for _name in GLUE:
    load_task(BUILTIN / f"{_name}.yaml")
