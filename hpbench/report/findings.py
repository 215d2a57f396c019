"""Findings: the comparison report's answers in plain sentences, generated from its tables.

Per run (model x task x eval language): the unpruned model against its baseline; the criteria ranked by AUC with
95 % intervals and, for each, whether its difference from HIS is significant (paired permutation test); the
largest certified "prunable within 1 point" share and by which criterion. Then the claims' verdict counts and the
warnings (tasks below their baseline, tiny random-init models) in one place. Every number carries its interval.
"""
from __future__ import annotations

import html
import re

import pandas as pd

from ..models.tiny import is_tiny
from .intervals import LEVEL, auc_table, percentile_interval, prunable_table
from .escape import code, esc
from .text import variant_of

REFERENCE = "his"


def _iv(v: float, lo: float, hi: float, fmt: str = ".3f") -> str:
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def _unpruned(r, c: int) -> tuple[float, float, float]:
    point, rep = r.curve()
    lo, hi = percentile_interval(rep[c, 0], LEVEL)
    return float(point[c, 0]), float(lo), float(hi)


def _ranking(auc: pd.DataFrame, better: str) -> str:
    """"his 0.849 [0.828, 0.870] > hies ... > random ..." in the metric's direction."""
    g = auc.sort_values("AUC", ascending=better != "higher")
    return " > ".join(f"{code(r.criterion)} {_iv(r.AUC, r['AUC lo'], r['AUC hi'])}" for _, r in g.iterrows())


def _versus(auc: pd.DataFrame) -> str:
    """Each criterion's AUC difference from HIS, its interval and p, read in the metric's direction."""
    parts = []
    for _, r in auc[auc["criterion"] != REFERENCE].iterrows():
        if pd.isna(r.get(f"Δ vs {REFERENCE}")):
            continue
        d = _iv(r[f"Δ vs {REFERENCE}"], r["Δ lo"], r["Δ hi"], "+.3f")
        parts.append(f"{code(r.criterion)} {d}, p = {r['p']:.3f}: "
                     + (f"**{r[f'vs {REFERENCE}']}** than HIS" if r["significant"] else "no significant difference"))
    return "; ".join(parts)


def _prunable(pt: pd.DataFrame) -> str:
    ok = pt[pt["prunable %"].notna()]
    if ok.empty:
        return ""
    best = ok.sort_values("prunable %", ascending=False, kind="stable")
    top = best.iloc[0]
    within = top.get("within", "1 point") if isinstance(top.get("within"), str) else "1 point"
    if top["prunable %"] <= 0:
        return ("No criterion has a certified prunable share: already the first pruning step's 95 % interval reaches "
                f"beyond {within} worse than the unpruned model.")
    ties = best[best["prunable %"] == top["prunable %"]]["criterion"].tolist()
    names = ", ".join(code(c) for c in ties)
    return (f"Certified prunable within {within} (the 95 % interval's worse end): **{int(top['prunable %'])} % of heads** "
            f"by {names} (point estimate {int(top['point estimate within 1 pt (%)'])} %).")


def _off_levels(r) -> str:
    """Criteria whose plans pruned another share than the level (layer-uniform rounding): their AUC is not on the
    others' x axis, so the reader is told the realised shares."""
    parts = []
    for c in r.criteria:
        got = [(s, r.realised[(c, s)]) for s in r.sparsities if (c, s) in r.realised]
        if got:
            parts.append(f"{code(c)} pruned " + ", ".join(f"{100 * v:.0f} % at the {100 * s:.0f} % level" for s, v in got))
    return ("Levels not met exactly (whole units per layer): " + "; ".join(parts)
            + ": their AUC is not on the same x axis; the prunable share counts what was pruned.") if parts else ""


def run_findings(r, auc: pd.DataFrame, pt: pd.DataFrame) -> tuple[str, str | None]:
    """(the paragraph for one run, a warning or None)."""
    k = r.keys
    ref = r.criteria.index(REFERENCE) if REFERENCE in r.criteria else 0  # every criterion shares the unpruned model
    v, lo, hi = _unpruned(r, ref)
    setting = variant_of(k.get("run_id", ""), k.get("model"), k["task"], k.get("train_language") or k.get("language"),
                         k.get("language"))
    name = esc(f"{k.get('model')} / {k['task']} / {k.get('language')}") + (f" [{esc(setting)}]" if setting else "")
    head = (f"**{name}** ({r.metric}, {r.direction.better} is better; {len(r.y)} dev examples, {len(r.seeds)} seed(s)): "
            f"unpruned {_iv(v, lo, hi)}")
    base = "" if r.baseline is None else f" vs baseline {r.baseline:.3f}"
    if not r.clears_baseline(ref):
        return (head + base + ": **the unpruned model does not clear its baseline, so its pruning curves say nothing**.",
                f"{name}: the unpruned model's interval does not clear its baseline ({r.baseline:.3f}).")
    levels = ", ".join(f"{100 * s:.0f}" for s in r.sparsities)
    text = head + base + f". By AUC over {levels} % pruned: " + _ranking(auc, r.direction.better) + "."
    vs = _versus(auc)
    if vs:
        text += " Against HIS: " + vs + "."
    pr, off = _prunable(pt), _off_levels(r)
    return text + (" " + pr if pr else "") + (" " + off if off else ""), None


def _quantised_models(models: list[str]) -> str:
    """A sentence naming the models dequantised from 4-bit GGUF files (real pretrained weights with quantisation noise:
    their numbers are said to be so wherever they appear); "" when none ran."""
    from ..models.registry import MODELS

    names = [m for m in dict.fromkeys(models) if m in MODELS and "GGUF" in MODELS.get(m).description]
    if not names:
        return ""
    return ("**Real pretrained decoders, dequantised from 4-bit GGUF** (quantisation noise included in every number "
            "below): " + "; ".join(f"{code(m)}: {esc(MODELS.get(m).description)}" for m in names) + ".")


def claim_anchor(claim: str, task: str, run: str = "", k: int = 0) -> str:
    """The id of a claims-table row (what the findings link to); ``k`` numbers the rows of one claim x run (a claim
    measured at several sparsities has one row each)."""
    return "claim-" + re.sub(r"[^A-Za-z0-9]+", "-", f"{claim}-{task}-{run}").strip("-").lower() + (f"-{k + 1}" if k else "")


def _anchors(claims: pd.DataFrame) -> pd.Series:
    """Every row's id, unique within the table."""
    run = claims["run"] if "run" in claims else pd.Series("", index=claims.index)
    k = claims.groupby([claims["claim"], claims["task"], run]).cumcount()
    return pd.Series([claim_anchor(c, t, r, i) for c, t, r, i in zip(claims["claim"], claims["task"], run, k)],
                     index=claims.index)


LINKED_VERDICTS = ("holds", "does not hold", "inconclusive")


def _setting(row: pd.Series) -> str:
    """" [recovery: finetune]" etc. for a claims row whose run has a setting beyond model x task x language."""
    run, task = str(row.get("run") or ""), str(row["task"])
    if f"-{task}-" not in run:
        return ""
    lang, _, rest = run.split(f"-{task}-", 1)[1].partition("-")
    v = variant_of(f"m-{task}-{lang}" + (f"-{rest}" if rest else ""), "m", task, lang)
    return f", {v}" if v else ""


def claims_counts(claims: pd.DataFrame, links: bool = True) -> str:
    """"Claims: 2 holds (links to their rows), 1 does not hold (...), ..." (``links=False``: the counts only)."""
    if claims is None or claims.empty:
        return ""
    anchors = _anchors(claims) if {"claim", "task"} <= set(claims) else None
    parts = []
    for v in ("holds", "does not hold", "inconclusive", "not comparable"):
        rows = claims[claims["verdict"] == v]
        if rows.empty:
            continue
        text = f"{len(rows)} {v}"
        if links and v in LINKED_VERDICTS and anchors is not None:
            text += " (" + ", ".join(f"[{esc(r['claim'])} / {esc(r['task'])}{esc(_setting(r))}](#{anchors[i]})"
                                     for i, r in rows.iterrows()) + ")"
        parts.append(text)
    scale = ""
    if "heads" in claims:
        same = claims[claims["heads"].astype(str).str.endswith("(as the paper)")]
        if len(same):
            n = sorted({h.split(" ")[0] for h in same["heads"]})
            scale = (f" {len(same)} of these rows are judged on a model with the paper's number of heads "
                     f"({', '.join(n)}); the rest on a model with another head count (the table's `heads` column).")
    return f"**The papers' claims** ({len(claims)} claim x task rows, [table](#claims)): " + "; ".join(parts) + "." + scale


def claims_table_html(claims: pd.DataFrame) -> str:
    """The claims table as HTML, each row with the id the findings link to."""
    cols = list(claims.columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    anchors = _anchors(claims)
    rows = []
    for i, r in claims.iterrows():
        cells = "".join(f"<td>{'' if pd.isna(r[c]) else html.escape(str(r[c]))}</td>" for c in cols)
        rows.append(f'<tr id="{anchors[i]}">{cells}</tr>')
    return f'<table class="dataframe"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def findings(reps, claims: pd.DataFrame | None = None, models: list[str] | None = None,
             auc: pd.DataFrame | None = None, equal_flops: pd.DataFrame | None = None, *, heading: bool = True,
             claim_links: bool = True, prunable: pd.DataFrame | None = None) -> str:
    """The Findings section (Markdown): one paragraph per run, the comparisons at equal FLOPs of criteria searched
    under a FLOPs budget (``equal_flops``: :func:`hpbench.report.flops.equal_flops_table`), the claims' verdict
    counts, the warnings. ``auc``: :func:`auc_table` of ``reps`` when already computed."""
    if not reps:
        return "No runs with per-example predictions: no findings."
    auc = auc_table(reps) if auc is None else auc
    pt = prunable_table(reps) if prunable is None else prunable
    keys = [k for k in ("run_id", "language") if k in auc]
    paras, warnings = [], []
    for r in reps:
        sel = pd.Series(True, index=auc.index)
        selp = pd.Series(True, index=pt.index)
        for k in keys:
            sel &= auc[k] == r.keys.get(k)
            selp &= pt[k] == r.keys.get(k)
        text, warn = run_findings(r, auc[sel], pt[selp])
        paras.append("* " + text)
        if warn:
            warnings.append(warn)
    quantised = _quantised_models(models or [])
    if quantised:
        paras.insert(0, "* " + quantised)
    tiny = sorted({m for m in (models or []) if is_tiny(m)})
    warnings += [f"{esc(m)} is a tiny random-init model: its numbers show the pipeline works, they are no finding." for m in tiny]
    out = (["## Findings", ""] if heading else []) + paras
    if equal_flops is not None and len(equal_flops):
        from .flops import flops_findings

        ef = flops_findings(equal_flops)
        out += [ef] if ef else []
    cc = claims_counts(claims, links=claim_links)
    if cc:
        out += ["", cc]
    if warnings:
        out += ["", "**Warnings**:", *[f"* {w}" for w in warnings]]
    return "\n".join(out)
