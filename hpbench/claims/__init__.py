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
from . import transfer  # noqa: F401  (registers transfer_heldout)

CLAIMS_FILE = Path(__file__).with_name("claims.yaml")
VERDICTS = ("holds", "does not hold", "inconclusive", "not comparable")
# the seed papers measure pretrained text encoders on classification, regression and tagging tasks
PAPER_KINDS = ("classification", "regression", "token")


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    claim: str
    paper_value: str
    measure: str
    params: dict[str, Any] = field(default_factory=dict)
    setting: dict[str, Any] = field(default_factory=dict)
    # task kinds the paper measured: the seed papers' encoders (default) or, e.g., LLM pruning's perplexity
    kinds: tuple[str, ...] = PAPER_KINDS


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
    parts = [f"model {row['model']}{_model_kind(str(row['model']))} vs {claim.setting.get('model', '?')}",
             (f"no fine-tuning (pretrained, epochs 0)" if row.get("epochs") == 0 else
              f"training {n_train} examples x {row.get('epochs')} epoch(s)") + f" vs {claim.setting.get('data', '?')}",
             f"dev subset {int(row['n_dev'])} examples"]
    if claim.setting.get("protocol"):
        parts.append(f"paper's protocol: {claim.setting['protocol']}")
    return "; ".join(parts)


def _model_kind(name: str) -> str:
    """" (MPNet sentence encoder, BERT-base-sized)": the registry's description up to its first parenthesis."""
    from ..models.registry import MODELS

    try:
        desc = MODELS.get(name).description
    except Exception:  # a local folder or hub id: no registered description
        return ""
    head = desc.split(" (")[0].strip()
    return f" ({head})" if head else ""


def in_scope(model: str, task: str, kinds: tuple[str, ...] = PAPER_KINDS) -> bool:
    """Whether a run can speak to a claim: a task of the claim's kinds (by default the seed papers': not language
    modelling or images) on a real model (not one of hpbench's tiny random-init models)."""
    from ..models.tiny import is_tiny
    from ..tasks.lookup import get_task

    try:
        kind = get_task(task).kind
    except (KeyError, ValueError):  # a task not registered in this process: judged by its model alone
        kind = PAPER_KINDS[0]
    return kind in kinds and not is_tiny(model)


def claims_table(tables: dict[str, pd.DataFrame], reps=None, claims: list[Claim] | None = None) -> pd.DataFrame:
    """One row per (claim, task): the paper's number, hpbench's closest measurement with its 95 % interval,
    the verdict and how the setting differs. ``reps``: :func:`hpbench.report.intervals.replicates` of
    ``tables`` (computed when not given). Each claim is judged on the runs of its task kinds (``kinds``: the seed papers'
    encoder tasks by default, ``lm_perplexity`` for LLM pruning's perplexity claims; :func:`in_scope`); tiny
    random-init models are always left out."""
    from ..report.intervals import replicates

    all_reps = replicates(tables) if reps is None else reps
    rows = []
    for c in claims or load_claims():
        tabs, reps = _scoped(tables, all_reps, tuple(c.kinds))
        heads = model_heads(tabs.get("results"))
        ev = _evidence_at_paper_scale(tabs, reps, heads, c)
        findings = MEASURES.get(c.measure)(ev, **c.params) if reps else [Finding("(any)", (
            f"no run of the kinds this claim is about ({', '.join(c.kinds)}) in these results" if all_reps
            else "no per-example predictions stored: rerun with this hpbench"), "not comparable")]
        if not findings:  # e.g. the claim is about a task these results do not hold: say so, never drop the claim
            tasks = c.params.get("tasks")
            findings = [Finding(", ".join(tasks) if tasks else "(any)", "no run in these results that this claim is about"
                                + (f" (task: {', '.join(tasks)})" if tasks else ""), "not comparable")]
        for f in findings:
            rows.append({"claim": c.id, "paper": c.paper, "paper's claim": c.claim, "paper's number": c.paper_value,
                         "task": f.task, "run": f.keys.get("run_id", ""),
                         "heads": heads_note(heads.get(f.keys.get("model", "")), c.setting.get("heads")),
                         "hpbench measurement [95 % interval]": f.measurement, "verdict": f.verdict,
                         "setting differs": setting_differences(c, tables.get("run", pd.DataFrame()), f.keys)
                         if f.keys else ""})
    return pd.DataFrame(rows)


def _scoped(tables: dict[str, pd.DataFrame], reps: list, kinds: tuple[str, ...]) -> tuple[dict, list]:
    """The tables' results and the replicates of the runs that can speak to a claim of these task kinds."""
    reps = [r for r in reps if in_scope(r.keys.get("model", ""), r.keys.get("task", ""), kinds)]
    res = tables.get("results")
    if res is not None and len(res):
        keep = [in_scope(m, t, kinds) for m, t in zip(res["model"], res["task"])]
        tables = {**tables, "results": res[keep]}
    return tables, reps


def model_heads(results: pd.DataFrame | None) -> dict[str, int]:
    """Attention heads of each model in the results (``heads_total`` of its runs)."""
    if results is None or results.empty or "heads_total" not in results:
        return {}
    return {str(m): int(h) for m, h in results.groupby("model")["heads_total"].max().items()}


def _evidence_at_paper_scale(tables: dict[str, pd.DataFrame], reps: list, heads: dict[str, int], claim: Claim
                             ) -> Evidence:
    """The evidence a claim is judged on: when some model in the results has the paper's number of heads
    (``setting.heads``, e.g. BERT-base's 144), only that model's runs (a 144-head mpnet-base is closer to BERT-base
    than a 72-head minilm); else every run."""
    want = claim.setting.get("heads")
    at_scale = {m for m, h in heads.items() if want is not None and h == int(want)}
    if not at_scale or at_scale == set(heads):
        return Evidence(tables, reps)
    res = tables["results"]
    kept = {**tables, "results": res[res["model"].isin(at_scale)]}
    return Evidence(kept, [r for r in reps if r.keys.get("model") in at_scale])


def heads_note(model_heads: int | None, paper_heads: Any) -> str:
    """"144 (as the paper)" or "72 (paper: 144)": the head count a row was judged on, beside the paper's."""
    if model_heads is None:
        return ""
    if paper_heads is None:
        return str(model_heads)
    return f"{model_heads} (as the paper)" if model_heads == int(paper_heads) else f"{model_heads} (paper: {int(paper_heads)})"


__all__ = ["Claim", "MEASURES", "PAPER_KINDS", "VERDICTS", "claims_table", "heads_note", "in_scope", "load_claims",
           "model_heads", "setting_differences", "verdict"]
