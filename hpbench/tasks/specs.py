"""Tasks as data: a YAML (or JSON, or dict) spec turns any labelled dataset into a registered :class:`Task`.

In the spirit of lm-evaluation-harness task configs. Fields (``name``, ``kind``, ``source``, ``columns``
and, for classification and tagging, ``labels`` are required)::

    name: my_reviews                 # registry name (a built-in name is an error unless overwrite=True)
    kind: classification             # classification | regression | token | causal_lm | image_classification
    description: Product reviews, 2 classes
    version: 1
    languages: [en]                  # '{language}' in file names is replaced by the run's language
    source:
      format: csv                    # csv | tsv | json | jsonl | parquet | conllu | conll | hf_disk | hf
      unit: document                 # conllu only, optional: one row {text} per "# newdoc" (language models)
      files: {train: train.csv, dev: dev.csv}   # relative to the spec file, or 'data:glue/...' for the data dir;
                                                # a list joins files; a file may be {path, header, names}
      # hf:       path: nyu-mll/glue, config: sst2, splits: {train: train, dev: validation}
      # hf_disk:  path: my_saved_dataset (datasets' save_to_disk), splits: {train: train, dev: test}
      # conll:    tag_column: -1 (default), separator: null (whitespace)
    hub: {format: hf, path: ..., columns: {...}}   # optional: used instead when no data directory exists
    split: {from: train, dev_fraction: 0.2, seed: 0}   # when the source has one split only
    columns: {text: review, text_pair: null, label: stars}     # token tasks: {tokens: ..., tags: ...};
                                     # causal_lm: {text: ...}; image_classification: {image: ..., label: ...}
                                     # (an image: a file path relative to the spec, Parquet {bytes}, or pixels)
    labels: [negative, positive]     # names (raw values may be names or 0-based ids), or {raw: name} mapping
    label_range: [0, 5]              # regression: allowed values
    metrics: [accuracy, f1]          # names from hpbench.tasks.metrics; main_metric defaults to the first
    main_metric: f1

Every error names the spec and the field (and the data file and row for bad data), before any training.
Local files are read by hpbench's own readers (exact control over quoting, encodings and row numbers in
errors); Hugging Face datasets (``hf``, ``hf_disk``) go through ``datasets``.
"""
from __future__ import annotations

import csv
import json
from contextlib import nullcontext
import random
from pathlib import Path
from typing import Any

from .conll import UPOS, read_conll, read_conllu, read_conllu_texts
from .datadir import DataError
from .kinds import KINDS, Row
from .metrics import METRICS
from .spec import Example, Task, register_task

FORMATS = ("csv", "tsv", "json", "jsonl", "parquet", "conllu", "conll", "hf_disk", "hf")
SPLITS = ("train", "dev")


class SpecError(DataError):
    """A bad task spec; the message names the spec and the field."""


def _fail(where: str, field: str, problem: str) -> SpecError:
    return SpecError(f"task spec {where}: {field}: {problem}")


def _read_spec(spec: str | Path | dict) -> tuple[dict, str, Path | None]:
    if isinstance(spec, dict):
        return dict(spec), f"<dict {spec.get('name', '?')!r}>", None
    path = Path(spec)
    if not path.is_file():
        raise SpecError(f"task spec file {str(spec)!r} not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise SpecError(f"task spec {path}: expected a mapping of fields, got {type(data).__name__}")
    return data, str(path), path.parent


def validate_spec(data: dict, where: str) -> dict:
    """Check the fields that need no data; return the spec with defaults filled in."""
    for f in ("name", "kind", "source", "columns"):
        if f not in data:
            raise _fail(where, f, "missing (required: name, kind, source, columns)")
    if data["kind"] not in KINDS:
        raise _fail(where, "kind", f"unknown kind {data['kind']!r}; allowed: {', '.join(KINDS.names())}")
    kind = KINDS.get(data["kind"])
    src = data["source"]
    fmt = src.get("format") if isinstance(src, dict) else None
    if fmt not in FORMATS:
        raise _fail(where, "source.format", f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if fmt not in ("hf", "hf_disk") and not isinstance(src.get("files"), dict):
        raise _fail(where, "source.files", "a mapping of split -> file(s) is required for local formats")
    if kind.needs_labels and not data.get("labels") and fmt != "conllu":
        raise _fail(where, "labels", f"required for {data['kind']} tasks (names or a {{raw: name}} mapping)")
    cols = data["columns"]
    if not isinstance(cols, dict):
        raise _fail(where, "columns", f"a mapping of role -> column name is required, got {cols!r}")
    missing = [r for r in kind.roles if r not in cols and not (data["kind"] == "token" and fmt in ("conllu", "conll"))]
    if missing:
        raise _fail(where, "columns", f"{data['kind']} tasks need the roles {', '.join(kind.roles)}; missing: {', '.join(missing)}")
    labels = data.get("labels")
    values = list(labels.values()) if isinstance(labels, dict) else list(labels or [])
    if any(isinstance(v, bool) for v in values):
        raise _fail(where, "labels", f"{values} holds booleans: YAML reads unquoted yes/no/true/false/on/off as "
                    "booleans; quote the label names")
    metrics = data.get("metrics") or list(kind.default_metrics)
    for m in metrics:
        if m not in METRICS:
            raise _fail(where, "metrics", f"unknown metric {m!r}; available: {', '.join(METRICS.names())}")
    main = data.get("main_metric", metrics[0])
    if main not in metrics:
        raise _fail(where, "main_metric", f"{main!r} is not one of the spec's metrics {metrics}")
    return {**data, "metrics": list(metrics), "main_metric": main, "languages": list(data.get("languages") or ["en"])}


def _label_names(data: dict) -> tuple[list[str], dict[str, str]]:
    """(ordered label names, raw value -> name mapping)."""
    labels = data.get("labels")
    if labels is None and data["source"]["format"] == "conllu":
        return list(UPOS), {}
    if isinstance(labels, dict):
        names = list(dict.fromkeys(str(v) for v in labels.values()))
        return names, {str(k): str(v) for k, v in labels.items()}
    return [str(x) for x in labels or []], {}


def _resolve(file: str, base: Path | None, root: Path | None, language: str, where: str, field: str) -> Path:
    file = file.replace("{language}", language)
    if file.startswith("data:"):
        if root is None:
            raise _fail(where, field, f"{file!r} is in the data directory, but none is set (HPBENCH_DATA_DIR)")
        path = root / file[len("data:"):]
    else:
        path = Path(file) if Path(file).is_absolute() or base is None else base / file
    if not path.exists():
        raise _fail(where, field, f"file {str(path)!r} not found")
    return path


def _exists(file: str, base: Path | None, root: Path | None, language: str) -> bool:
    try:
        _resolve(file, base, root, language, "", "")
        return True
    except SpecError:
        return False


def _read_delimited(path: Path, sep: str, header: bool, names: list[str] | None) -> list[dict[str, Any]]:
    """Rows of a CSV (standard quoting) or TSV (no quoting, as GLUE) file; blank lines skipped."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        if sep == "\t":
            rows = [ln.rstrip("\r\n").split("\t") for ln in fh if ln.strip()]
        else:
            rows = [r for r in csv.reader(fh) if r]
    if header:
        head, rows = rows[0] if rows else [], rows[1:]
    head = names or head
    out = []
    for n, r in enumerate(rows, start=2 if header else 1):
        if len(r) < len(head):
            raise DataError(f"{path}:{n}: expected {len(head)} fields ({head}), got {len(r)}")
        out.append(dict(zip(head, r)))
    return out


def _read_file(fmt: str, path: Path, opts: dict, src: dict) -> list:
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, "," if fmt == "csv" else "\t", opts.get("header", True), opts.get("names"))
    if fmt == "json":
        rows = json.loads(path.read_text(encoding="utf-8"))
        return rows if isinstance(rows, list) else rows.get("data", [])
    if fmt == "jsonl":
        return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if fmt == "parquet":
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    if fmt == "conllu" and src.get("unit") == "document":  # one row per "# newdoc" (text joined), for language models
        return [{"text": t} for t in read_conllu_texts(path, documents=True)]
    if fmt == "conllu":
        return [{"tokens": w, "tags": t} for w, t in read_conllu(path)]
    sents = read_conll(path, sep=src.get("separator"), tag_col=src.get("tag_column", -1), min_fields=src.get("min_fields", 2))
    return [{"tokens": w, "tags": t} for w, t in sents]


def _class_names(ds) -> dict[str, list[str]]:
    """Columns of a ``datasets`` split holding class ids (ClassLabel, or sequences of them) -> their names."""
    out = {}
    for col, feat in ds.features.items():
        inner = getattr(feat, "feature", feat)
        if hasattr(inner, "names") and hasattr(inner, "int2str"):
            out[col] = list(inner.names)
    return out


def _named(row: dict, names: dict[str, list[str]]) -> dict:
    return {k: ([names[k][i] for i in v] if isinstance(v, list) else names[k][v]) if k in names else v
            for k, v in row.items()}


def _hf_rows(src: dict, split: str, where: str, language: str = "en") -> list:
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise _fail(where, "source", "needs the `datasets` package") from e
    name = (src.get("splits") or {}).get(split, {"dev": "validation"}.get(split, split))
    if src["format"] == "hf_disk":
        ds = datasets.load_from_disk(src["path"])
        if isinstance(ds, datasets.DatasetDict):
            if name not in ds:
                raise _fail(where, "source.splits", f"split {name!r} not in {src['path']} (has {', '.join(ds)})")
            ds = ds[name]
    else:
        config = src.get("config")
        ds = datasets.load_dataset(src["path"], config.replace("{language}", language) if config else None, split=name)
    names = _class_names(ds)  # class ids -> names, so the spec's label list decides the ids
    return [_named(r, names) for r in ds]


def _rows(data: dict, split: str, language: str, root: Path | None, base: Path | None, where: str) -> list:
    """``[(location for error messages, row)]`` of a split, in file order."""
    src = data["source"]
    if src["format"] in ("hf", "hf_disk"):
        if src["format"] == "hf_disk" and base is not None and not Path(src["path"]).is_absolute():
            src = {**src, "path": str(base / src["path"])}
        return [(f"{src['path']} [{split}] row {i + 1}", r) for i, r in enumerate(_hf_rows(src, split, where, language))]
    files = src["files"].get(split)
    if files is None:
        raise _fail(where, f"source.files.{split}", f"no file for split {split!r} (has {', '.join(src['files'])}); "
                    "give one or a 'split' rule")
    rows: list = []
    for i, f in enumerate(files if isinstance(files, list) else [files]):
        opts = f if isinstance(f, dict) else {"path": f}
        if "any_of" in opts:  # the first alternative that exists (e.g. train.txt, else dev.txt)
            found = [a for a in opts["any_of"] if _exists(a, base, root, language)]
            opts = {**opts, "path": found[0] if found else opts["any_of"][0]}
        path = _resolve(opts["path"], base, root, language, where, f"source.files.{split}[{i}]")
        rows += [(f"{path} row {k + 1}", r) for k, r in enumerate(_read_file(src["format"], path, opts, src))]
    return rows


def _label_of(raw: Any, names: list[str], mapping: dict[str, str], where: str, at: str) -> int:
    key = str(raw).strip()
    key = mapping.get(key, key)
    if key in names:
        return names.index(key)
    if key.lstrip("-").isdigit() and 0 <= int(key) < len(names):
        return int(key)
    raise DataError(f"{at}: label {raw!r} not in labels {names} (task spec {where}: labels)")


def _example(row: dict, data: dict, names: list[str], mapping: dict, where: str, at: str, base: Path | None) -> Example:
    cols = data["columns"]
    for role, col in cols.items():
        if col is not None and col not in row:
            raise SpecError(f"task spec {where}: columns.{role}: column {col!r} not in {at} (columns: {sorted(row)})")
    label_of = lambda raw: _label_of(raw, names, mapping, where, at)  # noqa: E731
    return KINDS.get(data["kind"]).example(row, Row(cols, data, label_of, at, where, base))


def _split_rule(data: dict, split: str, rows: list) -> list:
    """``{from, dev_fraction, seed, group}``: a seeded random share of the groups of ``group`` consecutive rows (1:
    single rows) is dev, the rest train; ``{from, every: k}``: rows i with i % k == 0 are dev, the others train.
    Parallel data of equal length per language has the same items held out in every language."""
    rule = data.get("split") or {}
    if "every" in rule:
        k = int(rule["every"])
        return [r for i, r in enumerate(rows) if (i % k == 0) == (split == "dev")]
    frac, seed, size = float(rule.get("dev_fraction", 0.2)), int(rule.get("seed", 0)), int(rule.get("group", 1))
    if len(rows) % size:
        raise SpecError(f"task spec {data.get('name')!r}: split.group={size} but {len(rows)} rows is not a multiple of it")
    order = list(range(len(rows) // size))  # whole groups (XNLI: the three hypotheses of one premise) go together
    random.Random(seed).shuffle(order)
    n_dev = int(round(frac * len(order)))
    keep = sorted(order[:n_dev]) if split == "dev" else sorted(order[n_dev:])
    return [rows[g * size + j] for g in keep for j in range(size)]


def make_loader(spec: dict, where: str, base: Path | None):
    names, mapping = _label_names(spec)

    def load(split: str, *, language: str = "en", root: Path | None = None) -> list[Example]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for task {spec['name']!r}; available: {', '.join(SPLITS)}")
        data = spec
        if spec["source"]["format"] not in ("hf", "hf_disk") and root is None and spec.get("hub"):
            # no data directory: the hub twin of a data-directory source, with its own column names
            data = {**spec, "source": spec["hub"], "columns": spec["hub"].get("columns", spec["columns"])}
        rule = data.get("split")
        rows = _rows(data, rule["from"] if rule else split, language, root, base, where)
        if rule:
            rows = _split_rule(data, split, rows)
        if not rows:
            raise _fail(where, f"split {split}", "is empty (no rows read)")
        return [_example(r, data, names, mapping, where, at, base) for at, r in rows]

    return load


def load_task(spec: str | Path | dict, *, register: bool = True, overwrite: bool = False) -> Task:
    """Build a :class:`Task` from a spec file or dict (and register it under its name)."""
    data, where, base = _read_spec(spec)
    data = validate_spec(data, where)
    names, _ = _label_names(data)
    num = 1 if data["kind"] == "regression" else len(names)  # (causal_lm: no label space)
    task = Task(str(data["name"]), data["kind"], num, data["metrics"], data["main_metric"], make_loader(data, where, base),
                names, data["languages"], str(data.get("description", "")))
    task.options = KINDS.get(data["kind"]).options(data, where)
    task.spec = {"where": where, "version": data.get("version")}  # type: ignore[attr-defined]
    return register_task(task, overwrite=overwrite) if register else task


_FROM_FILE: dict[str, tuple[str, Task]] = {}  # resolved spec path -> (content digest, task)


def task_from_file(path: str | Path) -> Task:
    """The task of a spec file, registered under its name (again when the file changed since)."""
    import hashlib

    from ..core.registry import reloading

    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise SpecError(f"task spec file {str(path)!r} not found")
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    if str(p) in _FROM_FILE and _FROM_FILE[str(p)][0] == digest:
        return _FROM_FILE[str(p)][1]
    with reloading() if str(p) in _FROM_FILE else nullcontext():
        task = load_task(p)
    _FROM_FILE[str(p)] = (digest, task)
    return task
