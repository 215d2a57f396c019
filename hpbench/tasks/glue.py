"""GLUE tasks: ``<data_dir>/glue/<TASK>/{train,dev}.tsv`` (layout of ``../shared/data``) or, with no data
directory, ``datasets.load_dataset("nyu-mll/glue", task)`` (``datasets`` is a dependency)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .datadir import DataError, read_tsv
from .spec import Example, Task, register_task

_GLUE = {
    # name: (folder, dev file, (text col, pair col or None, label col), header, hub config)
    "sst2": ("SST-2", "dev.tsv", ("sentence", None, "label"), True, "sst2"),
    "mrpc": ("MRPC", "dev.tsv", ("#1 String", "#2 String", "Quality"), True, "mrpc"),
    "rte": ("RTE", "dev.tsv", ("sentence1", "sentence2", "label"), True, "rte"),
    "stsb": ("STS-B", "dev.tsv", ("sentence1", "sentence2", "score"), True, "stsb"),
    "cola": ("CoLA", "in_domain_dev.tsv+out_of_domain_dev.tsv", ("sentence", None, "label"), True, "cola"),
}


def _label(task: str, raw: str, where: str, regression: bool, allowed: Sequence[int] = (0, 1)):
    try:
        v = float(raw) if regression else int(raw)
    except ValueError:
        raise DataError(f"{where}: label {raw!r} is not a {'number' if regression else 'class id'} for {task}") from None
    if regression and not 0.0 <= v <= 5.0:
        raise DataError(f"{where}: score {v} outside [0, 5] for {task}")
    if not regression and v not in allowed:
        raise DataError(f"{where}: label {v} not in allowed labels {list(allowed)} for {task}")
    return v


def _glue_loader(task: str):
    folder, dev_file, (tc, pc, lc), header, hub = _GLUE[task]
    regression = task == "stsb"

    def load(split: str, *, language: str = "en", root: Path | None = None) -> list[Example]:
        if split not in ("train", "dev"):
            raise ValueError(f"unknown split {split!r} for {task}; available: train, dev")
        if root is None:
            return _glue_from_hub(hub, split, tc, pc, lc)
        out: list[Example] = []
        files = [f"{split}.tsv"] if split == "train" else dev_file.split("+")
        for fname in files:
            path = root / "glue" / folder / fname
            if task == "cola":
                rows = read_tsv(path, ["x", "y"], header=False, names=["x", "y"]) if split == "train" \
                    else read_tsv(path, ["x", "y"])
                rows = [{"sentence": r["x"], "label": r["y"]} for r in rows]
            else:
                rows = read_tsv(path, [c for c in (tc, pc, lc) if c])
            for i, r in enumerate(rows):
                out.append(Example(r[tc].strip(), r[pc].strip() if pc else None,
                                   _label(task, r[lc], f"{path} row {i + 1}", regression)))
        return out

    return load


def _glue_from_hub(config: str, split: str, tc: str, pc: str | None, lc: str) -> list[Example]:
    try:
        from datasets import load_dataset
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise DataError("no data directory found (set HPBENCH_DATA_DIR) and the `datasets` package "
                        "is not installed for hub loading") from e
    cols = {"sst2": ("sentence", None), "cola": ("sentence", None), "mrpc": ("sentence1", "sentence2"),
            "rte": ("sentence1", "sentence2"), "stsb": ("sentence1", "sentence2")}[config]
    ds = load_dataset("nyu-mll/glue", config, split="validation" if split == "dev" else "train")
    return [Example(r[cols[0]], r[cols[1]] if cols[1] else None, r["label"]) for r in ds]


for _name, _spec in _GLUE.items():
    register_task(Task(
        name=_name,
        kind="regression" if _name == "stsb" else "classification",
        num_labels=1 if _name == "stsb" else 2,
        metrics={"sst2": ["accuracy"], "rte": ["accuracy"], "mrpc": ["accuracy", "f1"],
                 "stsb": ["pearson", "spearman"], "cola": ["matthews"]}[_name],
        main_metric={"sst2": "accuracy", "rte": "accuracy", "mrpc": "f1", "stsb": "spearman",
                     "cola": "matthews"}[_name],
        loader=_glue_loader(_name),
        description=f"GLUE {_spec[0]}",
    ))
