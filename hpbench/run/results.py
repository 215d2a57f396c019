"""The result tables: schema (columns and types), save, merge and load.

Five tidy tables per run folder ``<results_dir>/<run_id>/``:

* ``results``: one row per (criterion, seed, sparsity, eval language, metric);
* ``scores``: one row per (criterion, seed, layer, head);
* ``masks``: one row per (criterion, seed, sparsity), the kept heads as a mask key (see ``models.masks``);
* ``run``: one row per (seed, eval language): the unpruned model's metrics, the majority baseline, settings;
* ``predictions``: one row per (criterion, seed, sparsity, eval language): the dev labels and the pruned
  model's per-example predictions (JSON lists in dev order), what intervals and paired tests resample
  (:mod:`hpbench.report.intervals`). Folders written before it have none: their reports show no intervals.

Parquet is the store of record; a CSV copy sits beside each for people. Folders written by hpbench
0.1 before this module (CSV masks with a ``pruned`` list) are read and converted on load, with a warning.
"""
from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.files import atomic_write_bytes, set_aside
from ..models.masks import mask_to_key

TABLES = ("results", "scores", "masks", "run", "predictions")
# column -> pandas dtype; "object" columns hold strings (or None). Extra columns (criterion info, metric
# columns of the run table) follow the schema's columns.
SCHEMA: dict[str, dict[str, str]] = {
    "results": {"model": "object", "task": "object", "language": "object", "train_language": "object",
                "score_language": "object", "criterion": "object", "protocol": "object", "seed": "int64",
                "sparsity": "float64", "n_pruned": "int64", "heads_total": "int64", "metric": "object",
                "value": "float64", "main": "bool", "encoder_gflops_128": "float64", "iterative": "bool",
                "score_seconds": "float64", "eval_seconds": "float64", "within_bound": "boolean"},
    "scores": {"criterion": "object", "seed": "int64", "score_language": "object", "layer": "int64", "head": "int64",
               "score": "float64"},
    "masks": {"criterion": "object", "seed": "int64", "score_language": "object", "sparsity": "float64",
              "n_pruned": "int64", "mask": "object"},
    "run": {"model": "object", "task": "object", "language": "object", "seed": "int64", "eval_language": "object",
            "main_metric": "object", "n_dev": "int64", "n_score": "int64", "n_train": "Int64", "epochs": "float64",
            "iterative": "bool", "finetune_per_seed": "bool", "finetune_seconds": "float64", "dense_seconds": "float64",
            "device": "object", "device_name": "object", "precision": "object", "torch_version": "object",
            "cuda_version": "object", "peak_accelerator_mib": "float64"},
    "predictions": {"criterion": "object", "seed": "int64", "score_language": "object", "sparsity": "float64",
                    "language": "object", "y_true": "object", "y_pred": "object"},
}
# settings that must agree for rows of an earlier invocation to be merged into this one's tables
SAME_RUN = ["n_dev", "n_score", "n_train", "epochs", "iterative", "finetune_per_seed", "eval_language"]


def conform(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """``df`` with the schema's columns first, cast to the schema's types (a missing column is an error)."""
    schema = SCHEMA[name]
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in schema.items()})
    missing = [c for c in schema if c not in df]
    if missing:
        raise ValueError(f"{name} table lacks column(s) {missing}; schema: {list(schema)}")
    out = df[list(schema) + [c for c in df if c not in schema]].copy()
    for c, t in schema.items():
        out[c] = out[c].astype(t)
    return out


def _same(a: Any, b: Any) -> bool:
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA  # noqa: E731
    return (missing(a) and missing(b)) or (not missing(a) and not missing(b) and a == b)


def merge_previous(tables: dict[str, pd.DataFrame], out: Path, criteria: list[str]) -> dict[str, pd.DataFrame]:
    """Add the rows of criteria run earlier into the same folder with the same settings (so a later invocation
    with other criteria adds series instead of replacing them); rows of ``criteria`` are this run's."""
    old = read_run_folder(out)
    if old is None or old["run"].empty or tables["run"].empty:
        return tables
    new_run = tables["run"]
    if any(not _same(old["run"][c].iloc[0], new_run[c].iloc[0]) for c in SAME_RUN if c in old["run"] and c in new_run):
        return tables
    merged = dict(tables)
    for name in ("results", "scores", "masks", "predictions"):
        if name not in old or old[name].empty:
            continue
        prev = old[name][~old[name]["criterion"].isin(set(criteria))]
        if len(prev):
            merged[name] = pd.concat([prev, tables[name]], ignore_index=True)
    return merged


def save_tables(tables: dict[str, pd.DataFrame], out: Path) -> dict[str, pd.DataFrame]:
    """Write each table as Parquet (the record) and CSV (for people), atomically; return the conformed tables."""
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for name, df in tables.items():
        df = done[name] = conform(df, name)
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        atomic_write_bytes(out / f"{name}.parquet", buf.getvalue())
        atomic_write_bytes(out / f"{name}.csv", df.to_csv(index=False).encode())
    return done


def _legacy_masks(run: Path, heads_total: int) -> pd.DataFrame:
    import ast

    m = pd.read_csv(run / "masks.csv")
    if "mask" not in m:
        warnings.warn(f"{run}: masks written by an older hpbench (a 'pruned' list in CSV); converted to mask keys "
                      "on load. Rerun the cell to rewrite the folder in the current format.", stacklevel=3)
        keys = []
        for pruned in m.pop("pruned").apply(ast.literal_eval):
            keep = [True] * heads_total
            for i in pruned:
                keep[i] = False
            keys.append(mask_to_key(keep))
        m["mask"] = keys
    return m


def _read_table(run: Path, name: str) -> pd.DataFrame | None:
    """Table ``name`` of a run folder: its Parquet file, else its CSV copy (conformed to the schema), else None.
    A file that cannot be read (truncated by a full disk or a killed copy) is set aside with a warning and its
    CSV copy read instead; with neither readable the table is None and its rows are computed again."""
    for path, read in ((run / f"{name}.parquet", pd.read_parquet), (run / f"{name}.csv", pd.read_csv)):
        if not path.is_file():
            continue
        try:
            df = read(path)
            return df if path.suffix == ".parquet" else conform(df, name)
        except Exception as e:  # noqa: BLE001 (pyarrow, parser and OS errors alike mean: cannot be trusted)
            set_aside(path, f"unreadable: {type(e).__name__}: {str(e)[:120]}")
    return None


# columns added after folders were first written, and what an older folder's rows mean by omission
LATER_COLUMNS = {"results": {"recovery": "none", "gqa_unit": "query", "layer_uniform": False, "budget": "heads",
                             "ffn_pruned_share": 0.0},
                 "masks": {"ffn_n_pruned": 0, "ffn_mask": ""},
                 "run": {"recovery": "none", "gqa_unit": "query", "layer_uniform": False}}


def _fill_later_columns(name: str, df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    for col, value in LATER_COLUMNS.get(name, {}).items():  # absent, or missing in rows merged from before
        df[col] = df[col].where(df[col].notna(), value) if col in df else value
    if name == "results" and "pruned_share" not in df:
        df["pruned_share"] = df["n_pruned"] / df["heads_total"]
    if name == "results" and "encoder_gflops_128" in df:  # rows from before FFN pruning: heads only
        dense = df[df["n_pruned"] == 0].groupby("model")["encoder_gflops_128"].max()
        share = 1 - df["encoder_gflops_128"] / df["model"].map(dense)
        df["flops_pruned_share"] = df["flops_pruned_share"].fillna(share) if "flops_pruned_share" in df else share
    return df


def read_run_folder(run: Path) -> dict[str, pd.DataFrame] | None:
    """The tables of one run folder (Parquet; CSV for folders written before Parquet masks, or where a Parquet
    file is damaged), or None when it has no readable run table. A table the folder lacks (predictions, before
    they were stored) is empty."""
    if not (run / "run.parquet").is_file() and not (run / "run.csv").is_file():
        return None
    out = {}
    for name in TABLES:
        if name == "masks" and not (run / "masks.parquet").is_file() and (run / "masks.csv").is_file():
            heads = int(out["results"]["heads_total"].iloc[0]) if len(out["results"]) else 0
            try:
                out[name] = _legacy_masks(run, heads)
                continue
            except Exception as e:  # noqa: BLE001
                set_aside(run / "masks.csv", f"unreadable: {type(e).__name__}")
        df = _read_table(run, name)
        if df is None and name == "run":
            return None
        out[name] = _fill_later_columns(name, df) if df is not None else conform(pd.DataFrame(), name)
    return out


def load_tables(results_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Concatenate the tables of every run under ``results_dir``; every row carries its ``run_id`` (folder)
    and the ``scores``/``masks`` rows their run's model, task and language (``predictions`` rows: model, task
    and ``train_language``; their ``language`` is the eval language, as in ``results``)."""
    root = Path(results_dir)
    out: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    for run in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        t = read_run_folder(run)
        if t is None or t["run"].empty:
            continue
        meta = t["run"].iloc[0]
        for name, df in t.items():
            df = df.copy()
            df["run_id"] = run.name
            if name in ("scores", "masks"):
                df["model"], df["task"], df["language"] = meta["model"], meta["task"], meta["language"]
            elif name == "predictions":
                df["model"], df["task"], df["train_language"] = meta["model"], meta["task"], meta["language"]
            out[name].append(df)
    return {k: (pd.concat(v, ignore_index=True) if v else pd.DataFrame()) for k, v in out.items()}


# ------------------------------------------------------------------ grid cell statuses
STATUS_DIR = "_cells"


def cell_status_path(results_dir: str | Path, run_id: str, key: str) -> Path:
    """Where a grid cell's status record lives (one JSON per run id and parameter hash)."""
    return Path(results_dir) / STATUS_DIR / f"{run_id}-{key}.json"


def all_statuses(results_dir: str | Path) -> pd.DataFrame:
    """Latest status record of every grid cell ever run into ``results_dir`` (for the index page)."""
    import json

    recs = []
    for p in sorted((Path(results_dir) / STATUS_DIR).glob("*.json")):
        r = json.loads(p.read_text())
        r["criteria"] = ", ".join(r.get("params", {}).get("criteria", []))
        r["mtime"] = p.stat().st_mtime
        recs.append(r)
    cols = ["run_id", "status", "seconds", "error", "html", "notebook", "criteria", "log"]
    df = pd.DataFrame(recs)
    if not len(df):
        return pd.DataFrame(columns=cols)
    df = df.sort_values("mtime")
    # a failure that a later run of the same run (e.g. after changing its criteria) finished is superseded
    later_ok = df["status"].eq("ok")[::-1].groupby(df["run_id"][::-1]).cummax()[::-1]
    superseded = df["status"].ne("ok") & (later_ok & ~df["status"].eq("ok"))
    return df[~superseded].reindex(columns=cols)
