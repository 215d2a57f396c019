"""The seed papers' headline claims as data (``claims.yaml``) and their verdicts against hpbench's results.

    from hpbench.claims import claims_table
    claims_table(load_tables("results"))   # one row per claim x task: measurement, 95 % interval, verdict

Each claim names a measure (:data:`hpbench.claims.measures.MEASURES`; add your own with
``MEASURES.register``) and the paper's setting; the table says how hpbench's setting differs (model
size, training data, steps), so "holds" means "holds in hpbench's setting", never "reproduced".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .measures import MEASURES, Evidence, Finding, verdict

CLAIMS_FILE = Path(__file__).with_name("claims.yaml")
VERDICTS = ("holds", "does not hold", "inconclusive", "not comparable")


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    claim: str
    paper_value: str
    measure: str
    params: dict[str, Any] = field(default_factory=dict)
    setting: dict[str, Any] = field(default_factory=dict)


def load_claims(path: str | Path = CLAIMS_FILE) -> list[Claim]:
    """Claims from a YAML list (the shipped file by default); an unknown measure is an error naming the known ones."""
    claims = [Claim(**c) for c in yaml.safe_load(Path(path).read_text())]
    for c in claims:
        MEASURES.get(c.measure)  # raises, listing the registered measures
    return claims


def setting_differences(claim: Claim, run: pd.DataFrame, keys: dict) -> str:
    """How hpbench's run differs from the paper's setting: model and heads, training data, dev data."""
    r = run
    for k in ("run_id", "model", "task"):
        if k in keys and k in r:
            r = r[r[k] == keys[k]]
    if r.empty:
        return f"paper: {claim.setting.get('model', '?')}; {claim.setting.get('data', '?')}"
    row = r.iloc[0]
    n_train = "all" if pd.isna(row.get("n_train")) else f"{int(row['n_train']):,}"
    parts = [f"model {row['model']} vs {claim.setting.get('model', '?')}",
             f"training {n_train} examples x {row.get('epochs')} epoch(s) vs {claim.setting.get('data', '?')}",
             f"dev subset {int(row['n_dev'])} examples"]
    if claim.setting.get("protocol"):
        parts.append(f"paper's protocol: {claim.setting['protocol']}")
    return "; ".join(parts)


# the seed papers measure pretrained text encoders on classification, regression and tagging tasks
PAPER_KINDS = ("classification", "regression", "token")


def in_scope(model: str, task: str) -> bool:
    """Whether a run can speak to the papers' claims: a task of the papers' kinds (not language modelling or
    images) on a real model (not one of hpbench's tiny random-init models)."""
    from ..models.tiny import is_tiny
    from ..tasks.lookup import get_task

    try:
        kind = get_task(task).kind
    except (KeyError, ValueError):  # a task not registered in this process: judged by its model alone
        kind = PAPER_KINDS[0]
    return kind in PAPER_KINDS and not is_tiny(model)


def claims_table(tables: dict[str, pd.DataFrame], reps=None, claims: list[Claim] | None = None) -> pd.DataFrame:
    """One row per (claim, task): the paper's number, hpbench's closest measurement with its 95 % interval,
    the verdict and how the setting differs. ``reps``: :func:`hpbench.report.intervals.replicates` of
    ``tables`` (computed when not given). Runs outside the papers' scope (:func:`in_scope`: language modelling,
    images, tiny random-init models) are left out."""
    from ..report.intervals import replicates

    reps = replicates(tables) if reps is None else reps
    reps = [r for r in reps if in_scope(r.keys.get("model", ""), r.keys.get("task", ""))]
    res = tables.get("results")
    if res is not None and len(res):
        keep = [in_scope(m, t) for m, t in zip(res["model"], res["task"])]
        tables = {**tables, "results": res[keep]}
    ev = Evidence(tables, reps)
    rows = []
    for c in claims or load_claims():
        findings = MEASURES.get(c.measure)(ev, **c.params) if reps else [
            Finding("(any)", "no per-example predictions stored: rerun with this hpbench", "not comparable")]
        if not findings:  # e.g. the claim is about a task these results do not hold: say so, never drop the claim
            tasks = c.params.get("tasks")
            findings = [Finding(", ".join(tasks) if tasks else "(any)", "no run in these results that this claim is about"
                                + (f" (task: {', '.join(tasks)})" if tasks else ""), "not comparable")]
        for f in findings:
            rows.append({"claim": c.id, "paper": c.paper, "paper's claim": c.claim, "paper's number": c.paper_value,
                         "task": f.task, "run": f.keys.get("run_id", ""), "hpbench measurement [95 % interval]": f.measurement, "verdict": f.verdict,
                         "setting differs": setting_differences(c, tables.get("run", pd.DataFrame()), f.keys)
                         if f.keys else ""})
    return pd.DataFrame(rows)


__all__ = ["Claim", "MEASURES", "PAPER_KINDS", "VERDICTS", "claims_table", "in_scope", "load_claims", "setting_differences",
           "verdict"]
