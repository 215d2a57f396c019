"""Measurements that check a paper's claim against hpbench's results, each with its 95 % interval and a verdict.

A measure takes the claim's parameters and a :class:`Evidence` (tables + bootstrap replicates) and
returns one :class:`Finding` per run (task) it can speak to. Verdicts, in hpbench's setting:

* ``holds``: the interval lies on the claim's side of its threshold;
* ``does not hold``: the interval lies on the other side;
* ``inconclusive``: the interval straddles the threshold (more dev examples or seeds needed);
* ``not comparable``: hpbench cannot measure it here (criterion not run, unpruned model no better than
  the majority baseline, no zero-shot runs), with the reason.
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..core.registry import Registry
from ..report.intervals import LEVEL, Replicates, percentile_interval


@dataclass
class Evidence:
    tables: dict[str, pd.DataFrame]
    reps: list[Replicates]


@dataclass
class Finding:
    task: str
    measurement: str  # what was measured, with its number and interval
    verdict: str
    value: float | None = None
    lo: float | None = None
    hi: float | None = None
    keys: dict = field(default_factory=dict)  # run keys (model, task, run_id, ...)


Measure = Callable[..., list[Finding]]
MEASURES: Registry[Measure] = Registry("claim measure")


def verdict(lo: float, hi: float, threshold: float, higher_holds: bool = True) -> str:
    """holds / does not hold / inconclusive for "value > threshold" (or "<" when ``higher_holds`` is False)."""
    if lo != lo or hi != hi:
        return "not comparable"
    if higher_holds:
        return "holds" if lo >= threshold else "does not hold" if hi < threshold else "inconclusive"
    return "holds" if hi <= threshold else "does not hold" if lo > threshold else "inconclusive"


def sized_verdict(lo: float, hi: float, threshold: float, size: float | None, higher_holds: bool = True) -> str:
    """:func:`verdict` for a claim that names its size (HIES: "+15.2 %", "2.04x"): it does not hold when the paper's
    value lies beyond the whole interval (the effect, if any, is smaller than claimed), and holds only when the
    interval is on the claim's side of ``threshold`` and reaches the claimed size. Without a size, :func:`verdict`."""
    v = verdict(lo, hi, threshold, higher_holds)
    if size is None or v == "not comparable":
        return v
    beyond = hi < size if higher_holds else lo > size
    return "does not hold" if beyond else v


def _size_text(size: float | None, lo: float, hi: float, fmt: Callable[[float], str]) -> str:
    if size is None:
        return ""
    return f"; the paper's {fmt(size)} is {'inside' if lo <= size <= hi else 'outside'} the interval"


def matches(spec: str, pattern: str) -> bool:
    """``"dsp*"`` matches ``"dsp"`` and any parameterised ``"dsp:..."`` (never ``"dsp_other"``); else equality."""
    if pattern.endswith("*"):
        base = pattern[:-1]
        return spec == base or spec.startswith(base + ":")
    return spec == pattern


def _match(r: Replicates, pattern: str) -> str | None:
    """The first criterion of ``r`` matching ``pattern`` (see :func:`matches`)."""
    return next((c for c in r.criteria if matches(c, pattern)), None)


def _own_runs(reps: list[Replicates]) -> list[Replicates]:
    """Runs evaluated on their training language (zero-shot evaluations are the transfer measure's)."""
    return [r for r in reps if r.keys.get("train_language", r.keys.get("language")) == r.keys.get("language")]


def _criterion_runs(ev: Evidence, criterion: str, out: list[Finding]):
    """For each own-language run: (replicates, matched criterion, its index, task, curve point, curve replicates, the
    level indices it ran); a run without the criterion adds a "not run" finding to ``out`` instead."""
    for r in _own_runs(ev.reps):
        crit, task = _match(r, criterion), r.keys["task"]
        if crit is None:
            out.append(Finding(task, f"{criterion.rstrip('*')} not run on this task", "not comparable", keys=r.keys))
            continue
        c = r.criteria.index(crit)
        point, rep = r.curve()
        yield r, crit, c, task, point, rep, [p for p in range(len(r.sparsities)) if point[c, p] == point[c, p]]


def _beats_baseline(r: Replicates, c: int, p0: int) -> tuple[bool, str]:
    if r.clears_baseline(c, p0):
        return True, ""
    unpruned = r.curve()[0][c, p0]
    return False, (f"unpruned model ({unpruned:.3f}, {r.direction.worse_end} end {r.unpruned_bound(c, p0):.3f}) does not beat the "
                   f"baseline {r.baseline:.3f}")


def _pair(r: Replicates, criterion: str, reference: str) -> tuple[int, int] | Finding:
    """(criterion index, reference index) in ``r``, or the not-comparable finding: either not run, or the
    unpruned model not above the baseline."""
    crit, task = _match(r, criterion), r.keys["task"]
    if crit is None or reference not in r.criteria:
        return Finding(task, f"{criterion.rstrip('*')} or {reference} not run on this task", "not comparable", keys=r.keys)
    ref = r.criteria.index(reference)
    ok, why = _beats_baseline(r, ref, 0)
    return (r.criteria.index(crit), ref) if ok else Finding(task, why, "not comparable", keys=r.keys)


def _pairs(reps: list[Replicates], criterion: str, reference: str, out: list[Finding], tasks: list[str] | None = None):
    """(run, criterion index, reference index, criterion name, task) of every own-language run (of ``tasks``) where
    both ran and the unpruned model clears its baseline; the other runs' not-comparable findings go into ``out``."""
    for r in _own_runs(reps):
        if tasks is not None and r.keys["task"] not in tasks:
            continue
        pair = _pair(r, criterion, reference)
        if isinstance(pair, Finding):
            out.append(pair)
            continue
        yield r, pair[0], pair[1], r.criteria[pair[0]], r.keys["task"]


@MEASURES.register("pruned_within")
def pruned_within(ev: Evidence, criterion: str, sparsity: float, tolerance: float = 0.01) -> list[Finding]:
    """Metric at the claimed sparsity minus the unpruned model's (paired 95 % interval); holds when the lower
    end is >= -tolerance. The closest swept sparsity is used (and named)."""
    out = []
    for r, crit, c, task, point, rep, ran in _criterion_runs(ev, criterion, out):
        p0, p = ran[0], min(ran, key=lambda i: abs(r.sparsities[i] - sparsity))
        ok, why = _beats_baseline(r, c, p0)
        if not ok:
            out.append(Finding(task, why, "not comparable", keys=r.keys))
            continue
        d = point[c, p] - point[c, p0]
        lo, hi = percentile_interval(rep[c, p] - rep[c, p0], LEVEL)
        text = (f"{crit} at {100 * r.sparsities[p]:.0f} % pruned: {r.metric} {point[c, p]:.3f} vs unpruned "
                f"{point[c, p0]:.3f}, Δ {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        out.append(Finding(task, text, verdict(lo, hi, -tolerance), d, lo, hi, r.keys))
    return out


@MEASURES.register("auc_gain")
def auc_gain(ev: Evidence, criterion: str, reference: str = "his") -> list[Finding]:
    """Relative AUC gain (AUC_c - AUC_ref) / AUC_ref over the swept sparsities, paired interval; holds when the
    interval lies above 0 (significantly better; the paper's "up to" number is a maximum over its settings)."""
    out = []
    for r, c, ref, crit, task in _pairs(ev.reps, criterion, reference, out):
        point, rep = r.auc([s for s in r.ran(crit) if s in r.ran(reference)])  # both on one grid
        with np.errstate(invalid="ignore", divide="ignore"):
            rel, rel_reps = (point[c] - point[ref]) / abs(point[ref]), (rep[c] - rep[ref]) / np.abs(rep[ref])
        lo, hi = percentile_interval(rel_reps, LEVEL)
        text = (f"AUC {crit} {point[c]:.3f} vs {reference} {point[ref]:.3f}: {100 * rel:+.1f} % "
                f"[{100 * lo:+.1f}, {100 * hi:+.1f}]")
        out.append(Finding(task, text, verdict(lo, hi, 0.0), rel, lo, hi, r.keys))
    return out


@MEASURES.register("stability_gain")
def stability_gain(ev: Evidence, criterion: str, reference: str = "his") -> list[Finding]:
    """std_ref / std_c of the main metric across seeds (RMS over pruned sparsities), F interval; fine-tuning
    seeds where such runs exist, else scoring subsets (named). Holds when the interval lies above 1."""
    from ..report.stability import ratio_interval, seed_spread

    sp = seed_spread(ev.tables["results"], ev.tables["run"])
    out = []
    if sp.empty:
        return out
    for (model, task), g in sp.groupby(["model", "task"]):
        kinds = list(g["seeds vary"].unique())
        kind = "fine-tuning seeds" if "fine-tuning seeds" in kinds else kinds[0]
        g = g[g["seeds vary"] == kind]
        a = g[g["criterion"] == reference]
        b = g[g["criterion"].map(lambda c: matches(c, criterion))]
        if a.empty or b.empty:
            out.append(Finding(task, f"{criterion.rstrip('*')} or {reference} not run", "not comparable", keys={"model": model, "task": task}))
            continue
        r, lo, hi = ratio_interval(float(a["std"].iloc[0]), float(b["std"].iloc[0]), int(a["n"].iloc[0]), int(b["n"].iloc[0]))
        text = (f"std across {kind} (n={int(b['n'].iloc[0])}): {reference} {float(a['std'].iloc[0]):.4f}, "
                f"{criterion} {float(b['std'].iloc[0]):.4f}; ratio {r:.2f}x [{lo:.2f}, {hi:.2f}]")
        out.append(Finding(task, text, verdict(lo, hi, 1.0), r, lo, hi,
                           {"model": model, "task": task}))
    return out


@MEASURES.register("closest_only")
def closest_only(ev: Evidence, criterion: str, sparsity: float, why: str, tolerance: float = 0.01) -> list[Finding]:
    """hpbench's closest measurement (:func:`pruned_within`'s) of a claim whose setting hpbench cannot reproduce;
    the verdict is always *not comparable*, with ``why``."""
    out = []
    for f in pruned_within(ev, criterion, sparsity, tolerance):
        note = f"{f.measurement}; {why}" if f.value is not None else f.measurement
        out.append(dataclasses.replace(f, measurement=note, verdict="not comparable"))
    return out


@MEASURES.register("flops_within")
def flops_within(ev: Evidence, criterion: str, flops: float, tolerance: float = 0.01, fallback: dict | None = None
                 ) -> list[Finding]:
    """:func:`pruned_within` for a criterion searched under a FLOPs budget (``kwon``; its sparsity is the
    share of the encoder's FLOPs removed): metric at ``flops`` removed minus the unpruned model's, paired interval.
    Where no such criterion ran, ``fallback`` (a :func:`closest_only` claim's parameters) says what comes closest."""
    from ..report.flops import flops_criteria
    from ..report.intervals import replicates

    res, preds = ev.tables.get("results"), ev.tables.get("predictions")
    crits = {c for c in flops_criteria(res) if matches(c, criterion)} if res is not None and len(res) else set()
    if not crits or preds is None:
        return closest_only(ev, **fallback) if fallback else []
    reps = replicates({**ev.tables, "predictions": preds[preds["criterion"].isin(crits)]}, budget=None)
    return [dataclasses.replace(f, measurement=f.measurement.replace("% pruned", "% of the encoder FLOPs removed"))
            for f in pruned_within(Evidence(ev.tables, reps), criterion, flops, tolerance)]


@MEASURES.register("noninferior")
def noninferior(ev: Evidence, criterion: str, reference: str = "his", margin: float = 0.01) -> list[Finding]:
    """Mean over the shared pruned sparsities of metric_c - metric_ref (paired interval); holds when the lower end
    is >= -margin. Also states whether every mask pruned exactly the requested number of heads."""
    masks = ev.tables.get("masks", pd.DataFrame())
    out = []
    for r, c, ref, crit, task in _pairs(ev.reps, criterion, reference, out):
        point, rep = r.curve()
        shared = [p for p, s in enumerate(r.sparsities) if s > 0 and point[c, p] == point[c, p] and point[ref, p] == point[ref, p]]
        d, d_reps = np.mean(point[c, shared] - point[ref, shared]), np.mean(rep[c, shared] - rep[ref, shared], 0)
        lo, hi = percentile_interval(d_reps, LEVEL)
        exact = _exact_sparsity(masks, r, crit)
        text = (f"{crit} − {reference}, mean over {', '.join(f'{100 * r.sparsities[p]:.0f}' for p in shared)} % pruned: "
                f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]; {exact}")
        out.append(Finding(task, text, verdict(lo, hi, -margin), d, lo, hi, r.keys))
    return out


def _exact_sparsity(masks: pd.DataFrame, r: Replicates, crit: str) -> str:
    if masks.empty:
        return "masks not stored"
    m = masks[(masks["criterion"] == crit) & (masks["task"] == r.keys["task"])]
    if "run_id" in m and "run_id" in r.keys:
        m = m[m["run_id"] == r.keys["run_id"]]
    heads = m["mask"].str.len()
    exact = (m["n_pruned"] == (m["sparsity"] * heads).round().astype(int)).all()
    return f"exact sparsity in {len(m)} of {len(m)} masks" if exact else "sparsity NOT exact in every mask"


def _level(r: Replicates, point: np.ndarray, c: int, ref: int, sparsity: float) -> int | None:
    """The index of the swept sparsity within 0.05 of ``sparsity`` that both series ran, else None."""
    both = [p for p in range(len(r.sparsities)) if point[c, p] == point[c, p] and point[ref, p] == point[ref, p]]
    p = min(both, key=lambda i: abs(r.sparsities[i] - sparsity), default=None)
    return p if p is not None and abs(r.sparsities[p] - sparsity) <= 0.05 else None


def _off_level(r: Replicates, crits: list[str], p: int) -> str | None:
    """Why a level is no common ground: a criterion whose plans pruned another share than the level there (layer-uniform
    rounding, :meth:`Replicates.share`); None when every one met it."""
    s = r.sparsities[p]
    off = [f"{c} pruned {100 * r.share(c, s):.0f} %" for c in crits if r.share(c, s) != s]
    return f"not the same share at the {100 * s:.0f} % level: " + ", ".join(off) if off else None


@MEASURES.register("relative_at")
def relative_at(ev: Evidence, criterion: str, reference: str = "his", sparsities: list[float] = (0.5,),
                tasks: list[str] | None = None, size: float | None = None) -> list[Finding]:
    """The HIES paper's Table 1 arithmetic: metric_c / metric_ref - 1 at each claimed sparsity (the swept level
    within 5 points of it, named), on ``tasks`` (all when None), with its paired 95 % interval (the same bootstrap
    resamples of examples and seeds for both). Holds when the interval lies above 0 (below 0 for a lower-is-better
    metric such as perplexity: the criterion's is the smaller); with the paper's ``size`` (e.g. 0.152), see
    :func:`sized_verdict`."""
    out = []
    for r, c, ref, crit, task in _pairs(ev.reps, criterion, reference, out, tasks):
        point, rep = r.curve()
        for s in sparsities:
            p = _level(r, point, c, ref, s)
            if p is None or abs(point[ref, p]) < 1e-9:
                why = f"{100 * s:.0f} % not swept" if p is None else f"{reference} scores 0 at {100 * s:.0f} %: no ratio"
                out.append(Finding(task, why, "not comparable", keys=r.keys))
                continue
            off = _off_level(r, [crit, r.criteria[ref]], p)
            if off:
                out.append(Finding(task, off, "not comparable", keys=r.keys))
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                rel, rel_reps = point[c, p] / point[ref, p] - 1, rep[c, p] / rep[ref, p] - 1
            lo, hi = percentile_interval(rel_reps[np.isfinite(rel_reps)], LEVEL)
            text = (f"{100 * r.sparsities[p]:.0f} % pruned: {r.metric} {crit} {point[c, p]:.3f} vs {reference} "
                    f"{point[ref, p]:.3f}: {100 * rel:+.1f} % [{100 * lo:+.1f}, {100 * hi:+.1f}]"
                    + _size_text(size, lo, hi, lambda v: f"{100 * v:+.1f} %"))
            higher = r.direction.higher_is_better
            out.append(Finding(task, text, sized_verdict(lo, hi, 0.0, size, higher), rel, lo, hi, r.keys))
    return out


@MEASURES.register("ratio_within")
def ratio_within(ev: Evidence, criterion: str, sparsity: float, max_change: float) -> list[Finding]:
    """LLM-pruning papers' reading of a cost: metric at ``sparsity`` (the swept level within 5 points, named) over the
    unpruned model's, paired 95 % interval. Holds when the worse end changes the metric by at most ``max_change`` of
    its unpruned value in the worse direction (perplexity: ratio <= 1 + max_change; accuracy: >= 1 - max_change)."""
    out = []
    for r, crit, c, task, point, rep, ran in _criterion_runs(ev, criterion, out):
        p0 = ran[0]
        p = _level(r, point, c, c, sparsity)
        if p is None or r.sparsities[p0] != 0.0:
            out.append(Finding(task, f"{100 * sparsity:.0f} % (or 0 %) not swept", "not comparable", keys=r.keys))
            continue
        off = _off_level(r, [crit], p)
        if off:
            out.append(Finding(task, off, "not comparable", keys=r.keys))
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio, reps = point[c, p] / point[c, p0], rep[c, p] / rep[c, p0]
        lo, hi = percentile_interval(reps[np.isfinite(reps)], LEVEL)
        lower = not r.direction.higher_is_better
        text = (f"{crit} at {100 * r.sparsities[p]:.0f} % pruned: {r.metric} {point[c, p]:.3f} vs unpruned "
                f"{point[c, p0]:.3f}, x{ratio:.3f} [{lo:.3f}, {hi:.3f}] (claimed at most "
                f"x{1 + max_change if lower else 1 - max_change:.2f})")
        threshold = 1 + max_change if lower else 1 - max_change
        out.append(Finding(task, text, verdict(lo, hi, threshold, higher_holds=not lower), ratio, lo, hi, r.keys))
    return out


def stability_percent(values: np.ndarray, unpruned: float) -> float:
    """hpbench's reading of the HIES paper's undefined "stability (%) against the unpruned model" (Table 2):
    100 * (1 - std over seeds of the pruned metric / |unpruned metric|): 100 % when every seed gives the same
    pruned model quality, lower the more the seeds disagree relative to the unpruned score."""
    v = values[np.isfinite(values)]
    return float(100 * (1 - np.std(v, ddof=1) / abs(unpruned))) if len(v) > 1 and unpruned else float("nan")


@MEASURES.register("stability_percent_ratio")
def stability_percent_ratio(ev: Evidence, criterion: str, reference: str = "his", sparsity: float = 0.5,
                            tasks: list[str] | None = None, size: float | None = None) -> list[Finding]:
    """Stability (%) of ``criterion`` / stability (%) of ``reference`` at ``sparsity`` (:func:`stability_percent`,
    the seeds of the run), interval from the two-stage bootstrap (seeds drawn with replacement, then examples);
    holds when it lies above 1; with the paper's ``size`` (e.g. 2.04), see :func:`sized_verdict`."""
    out = []
    for r, c, ref, crit, task in _pairs(ev.reps, criterion, reference, out, tasks):
        point = r.curve()[0]
        p = _level(r, point, c, ref, sparsity)
        if p is None or len(r.seeds) < 2:
            out.append(Finding(task, f"{100 * sparsity:.0f} % not swept" if p is None else "one seed: no spread",
                               "not comparable", keys=r.keys))
            continue
        stab = [stability_percent(r.point[i, p], r.point[i, 0].mean()) for i in (c, ref)]
        reps = np.array([[stability_percent(r.reps[i, p, d, b], r.reps[i, 0, d, b].mean()) for i in (c, ref)]
                         for b, d in enumerate(r.draws)])
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio, ratios = stab[0] / stab[1], reps[:, 0] / reps[:, 1]
        lo, hi = percentile_interval(ratios[np.isfinite(ratios)], LEVEL)
        text = (f"{100 * r.sparsities[p]:.0f} % pruned, {len(r.seeds)} seeds: stability {crit} {stab[0]:.1f} % vs "
                f"{reference} {stab[1]:.1f} % = {ratio:.2f}x [{lo:.2f}, {hi:.2f}] (stability = 100 (1 - std/|unpruned|))"
                + _size_text(size, lo, hi, lambda v: f"{v:.2f}x"))
        out.append(Finding(task, text, sized_verdict(lo, hi, 1.0, size), ratio, lo, hi, r.keys))
    return out
