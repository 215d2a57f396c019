"""95 % intervals for every reported point, paired tests between criteria, "prunable within 1 point".

From the stored per-example predictions (``predictions`` table) of one run and eval language:

* the same ``B`` bootstrap resamples of the dev examples are applied to every (criterion, sparsity,
  seed), so differences between criteria or sparsities are *paired* (same examples);
* the seeds are resampled too (a two-stage, hierarchical bootstrap: draw seeds with replacement, then
  examples; Davison & Hinkley 1997, sec. 3.8): replicate ``b`` of a curve point is the mean over the
  drawn seeds of the metric on resample ``b``. With fine-tuning seeds this adds the spread across
  fine-tuned models; with one shared fine-tuned model it adds the spread across scoring subsets;
* an interval is the percentile interval of the replicates (the difference between two criteria gets
  its paired interval the same way);
* "significant" is a paired permutation test on the same examples (Dror et al. 2018): within each
  seed each example's two predictions are swapped with probability 1/2; statistic = mean over seeds of
  metric(A) - metric(B); p = (1 + #{|T*| >= |T|}) / (1 + B). Its level is exact (the percentile
  bootstrap's is not at 150 examples: 7 % false positives measured), so p < 0.05 marks a difference;
* the AUC of a curve is computed per replicate, so it gets an interval and a paired test too (the
  permutation swaps an example's predictions at every sparsity together).
"""
from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..evaluation.resampling import bootstrap_counts, permutation_differences, resample
from ..tasks.lookup import get_task
from ..tasks.metrics import Direction, direction

N_BOOT, LEVEL = 1000, 0.95
# what "has learned something" means for a metric without a majority baseline (regression): no correlation
NO_SKILL = {"pearson": 0.0, "spearman": 0.0, "matthews": 0.0}


@dataclass
class Replicates:
    """Bootstrap replicates of one run's main metric on one eval language."""

    keys: dict  # model, task, train_language, language (eval), run_id when known
    metric: str
    criteria: list[str]
    sparsities: list[float]
    seeds: list[int]
    point: np.ndarray  # [C, P, S] metric on the whole dev subset (nan: not run)
    reps: np.ndarray  # [C, P, S, B] metric on each resample
    draws: np.ndarray  # [B, S] seed indices drawn for each replicate
    baseline: float | None  # majority-class (or no-skill) value of the metric
    y: list  # dev labels
    preds: dict  # (criterion, sparsity, seed) -> per-example predictions
    label_names: list[str] | None = None
    # (criterion, sparsity) -> share of heads its plans really pruned (least over seeds) where it differs from the
    # level: a layer-uniform plan rounds to whole units per layer (Wanda-sp on 3 KV groups: 0 % at a 10 % level)
    realised: dict = field(default_factory=dict)

    def share(self, criterion: str, sparsity: float) -> float:
        """The share of heads that ``criterion``'s plans pruned at level ``sparsity`` (the level when not recorded)."""
        return self.realised.get((criterion, sparsity), sparsity)

    def permutation_p(self, a: str, b: str, sparsities: list[float], *, n_perm: int = N_BOOT, seed: int = 0) -> float:
        """Paired permutation p-value of "a and b score the same" (on the AUC over ``sparsities`` when there
        are several, on the metric at the one sparsity otherwise), seeds where both ran."""
        rng = np.random.default_rng(seed)
        stats = []
        for sd in self.seeds:
            pairs = [(self.preds.get((a, s, sd)), self.preds.get((b, s, sd))) for s in sparsities]
            if any(pa is None or pb is None for pa, pb in pairs):
                continue
            swaps = rng.random((n_perm, len(self.y))) < 0.5
            d = np.stack([permutation_differences(self.metric, self.y, pa, pb, swaps, self.label_names)
                          for pa, pb in pairs])  # [P, 1 + B]
            stats.append(np.trapezoid(d, sparsities, axis=0) / (sparsities[-1] - sparsities[0]) if len(sparsities) > 1 else d[0])
        if not stats:
            return float("nan")
        t = np.mean(stats, 0)
        return float((1 + np.sum(np.abs(t[1:]) >= abs(t[0]) - 1e-12)) / (1 + n_perm))

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(point [C, P], replicates [C, P, B]): mean over seeds, and over each replicate's drawn seeds."""
        r = np.take_along_axis(self.reps.transpose(0, 1, 3, 2), self.draws[None, None], axis=3)  # [C, P, B, S]
        with _quiet():
            return np.nanmean(self.point, 2), np.nanmean(r, 3)

    def auc(self, sparsities: list[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(point [C], replicates [C, B]) of the area under metric vs fraction pruned / swept width, over each
        criterion's own sparsities, or over ``sparsities`` (those it ran of them) to compare criteria on one grid."""
        pts, reps = [], []
        for c in range(len(self.criteria)):
            ok = ~np.all(np.isnan(self.point[c]), axis=1)  # sparsities this criterion ran
            if sparsities is not None:
                ok &= np.isin(self.sparsities, sparsities)
            x = np.asarray(self.sparsities)[ok]
            width = (x[-1] - x[0]) if len(x) > 1 else 1.0
            area = lambda y, axis: np.trapezoid(y, x, axis=axis) / width if len(x) > 1 else y.take(0, axis)  # noqa: E731
            per_seed = area(self.point[c][ok], 0)  # [S]
            rep_seed = area(self.reps[c][ok], 0)  # [S, B]
            r = np.take_along_axis(rep_seed.T, self.draws, axis=1)  # [B, S]
            with _quiet():
                pts.append(np.nanmean(per_seed))
                reps.append(np.nanmean(r, 1))
        return np.array(pts), np.stack(reps)

    @property
    def direction(self) -> Direction:
        """Which way the metric is better (perplexity: lower) and what one point of it is."""
        return direction(self.metric)

    def unpruned_bound(self, c: int, p0: int = 0, level: float = LEVEL) -> float:
        """The worse end of the interval of criterion ``c``'s point ``p0`` (the unpruned model at 0 %): the lower
        end when higher is better, the upper end when lower is better."""
        lo, hi = percentile_interval(self.curve()[1][c, p0], level)
        return float(lo if self.direction.higher_is_better else hi)

    def clears_baseline(self, c: int, p0: int = 0, level: float = LEVEL) -> bool:
        """Whether that interval lies on the better side of the majority-class (or no-skill) baseline (always,
        without one)."""
        return self.baseline is None or self.direction.sign * (self.unpruned_bound(c, p0, level) - self.baseline) > 0

    def ran(self, criterion: str) -> list[float]:
        """The sparsities ``criterion`` was evaluated at."""
        c = self.criteria.index(criterion)
        return [s for p, s in enumerate(self.sparsities) if not np.all(np.isnan(self.point[c, p]))]


@contextmanager
def _quiet():
    """nan-aware reductions over all-nan slices (criteria that skipped a sparsity) without warnings."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def percentile_interval(reps: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentile bounds over the last axis (nan-aware)."""
    with _quiet():
        lo, hi = np.nanpercentile(reps, [100 * (1 - level) / 2, 100 * (1 + level) / 2], axis=-1)
    return lo, hi


def _group_keys(preds: pd.DataFrame) -> list[str]:
    return [k for k in ("run_id", "model", "task", "train_language", "language") if k in preds]


def _baseline(run: pd.DataFrame | None, keys: dict, metric: str) -> float | None:
    col = f"majority_{metric}"
    if run is not None and col in run and len(run):
        r = run
        if "run_id" in keys and "run_id" in r:
            r = r[r["run_id"] == keys["run_id"]]
        if "eval_language" in r and "language" in keys:
            r = r[r["eval_language"] == keys["language"]]
        v = r[col].dropna()
        if len(v):
            return float(v.mean())
    return NO_SKILL.get(metric)


def replicates(tables: dict[str, pd.DataFrame], *, n_boot: int = N_BOOT, seed: int = 0,
               budget: str | None = "heads") -> list[Replicates]:
    """Bootstrap replicates of every run x eval language with stored predictions (``tables`` from
    ``run_benchmark`` or ``load_tables``); [] when none are stored (results of hpbench < 0.4). ``budget="heads"``
    leaves out criteria searched under a FLOPs budget (``kwon``: their sparsity is a share of FLOPs, not
    of heads; :mod:`hpbench.report.flops` compares them at equal FLOPs); None keeps every criterion."""
    preds = tables.get("predictions")
    if preds is None or preds.empty:
        return []
    res, run = tables["results"], tables.get("run")
    if budget == "heads" and "budget" in res:
        preds = preds[~preds["criterion"].isin(set(res.loc[res["budget"] == "flops", "criterion"]))]
        if preds.empty:
            return []
    out = []
    keys = _group_keys(preds)
    for kv, g in preds.groupby(keys, sort=True):
        kd = dict(zip(keys, kv if isinstance(kv, tuple) else (kv,)))
        out.append(_replicates_of(g, kd, res, run, n_boot, seed))
    return out


def _main_metric(res: pd.DataFrame, task: str) -> str:
    m = res[(res["task"] == task) & res["main"].astype(bool)]["metric"]
    return str(m.iloc[0]) if len(m) else get_task(task).main_metric


def _replicates_of(g: pd.DataFrame, kd: dict, res: pd.DataFrame, run, n_boot: int, seed: int) -> Replicates:
    task = kd.get("task") or str(res["task"].iloc[0])
    metric = _main_metric(res, task)
    crits = list(dict.fromkeys(g["criterion"]))
    sps, seeds = sorted(g["sparsity"].unique().tolist()), sorted(g["seed"].unique().tolist())
    y = json.loads(g["y_true"].iloc[0])
    W = bootstrap_counts(len(y), n_boot, seed)
    label_names = getattr(get_task(task), "label_names", None)
    rows = list(g.itertuples())
    preds = {(r.criterion, r.sparsity, r.seed): json.loads(r.y_pred) for r in rows}
    vals = resample(metric, y, list(preds.values()), np.vstack([np.ones(len(y)), W]), label_names)
    point = np.full((len(crits), len(sps), len(seeds)), np.nan)
    reps = np.full(point.shape + (n_boot,), np.nan)
    for (c, s, sd), v in zip(preds, vals):
        i = (crits.index(c), sps.index(s), seeds.index(sd))
        point[i], reps[i] = v[0], v[1:]
    draws = np.random.default_rng(seed + 1).integers(0, len(seeds), size=(n_boot, len(seeds)))
    return Replicates(kd | {"task": task}, metric, crits, sps, seeds, point, reps, draws, _baseline(run, kd, metric),
                      y, preds, label_names, _realised(res, kd))


def _realised(res: pd.DataFrame, kd: dict) -> dict:
    """(criterion, sparsity) -> least ``pruned_share`` over seeds, for this run's rows, where it is further from the
    level than one head."""
    if "pruned_share" not in res:
        return {}
    sub = res
    for k in ("run_id", "model", "task"):
        if k in kd and k in sub:
            sub = sub[sub[k] == kd[k]]
    sub = sub.dropna(subset=["pruned_share"])
    if sub.empty:
        return {}
    least = sub.groupby(["criterion", "sparsity"])["pruned_share"].min()
    # a global ranking meets a level to within one head (rounding): only a larger gap is another share
    one = 1.0 / float(sub["heads_total"].max()) if "heads_total" in sub and sub["heads_total"].notna().any() else 0.0
    return {(c, float(sp)): float(v) for (c, sp), v in least.items() if abs(v - sp) > one + 1e-9}


def _reference(r: Replicates, reference: str) -> int | None:
    return r.criteria.index(reference) if reference in r.criteria else None


def _paired(r: Replicates, crit: str, reference: str, sparsities: list[float], diff: float, diff_reps: np.ndarray,
            names: tuple[str, str, str], level: float, n_perm: int) -> dict:
    """The paired comparison of ``crit`` with ``reference``: the difference, its interval (columns ``names``), the
    permutation p over ``sparsities``, whether p < 1 - level, and the reading in the metric's direction
    (``vs reference``: better / worse / no difference)."""
    lo, hi = percentile_interval(diff_reps, level)
    pv = r.permutation_p(crit, reference, sparsities, n_perm=n_perm)
    sig = bool(pv < 1 - level)
    return {names[0]: diff, names[1]: lo, names[2]: hi, "p": pv, "significant": sig,
            f"vs {reference}": r.direction.reading(diff, sig)}


def curve_table(reps: list[Replicates], *, reference: str = "his", level: float = LEVEL, n_perm: int = N_BOOT,
                paired: bool = True) -> pd.DataFrame:
    """One row per (run, eval language, criterion, sparsity): mean over seeds, its interval, and (``paired``) the
    paired difference to ``reference`` (interval, p, significant). Figures that draw only the intervals pass
    ``paired=False`` and skip the permutation tests."""
    rows = []
    for r in reps:
        point, rep = r.curve()
        lo, hi = percentile_interval(rep, level)
        ref = _reference(r, reference) if paired else None
        names = (f"diff_vs_{reference}", "diff_lo", "diff_hi")
        for c, crit in enumerate(r.criteria):
            for p, s in enumerate(r.sparsities):
                if np.isnan(point[c, p]):
                    continue
                row = {**r.keys, "criterion": crit, "sparsity": s, "metric": r.metric, "better": r.direction.better, "value": point[c, p],
                       "lo": lo[c, p], "hi": hi[c, p], "n_seeds": int((~np.isnan(r.point[c, p])).sum())}
                if ref is not None and c != ref:
                    row.update(_paired(r, crit, reference, [s], point[c, p] - point[ref, p], rep[c, p] - rep[ref, p],
                                       names, level, n_perm))
                rows.append(row)
    return pd.DataFrame(rows)


def auc_table(reps: list[Replicates], *, reference: str = "his", level: float = LEVEL, n_perm: int = N_BOOT
              ) -> pd.DataFrame:
    """AUC per (run, eval language, criterion) with its interval and the paired AUC difference to ``reference``."""
    rows = []
    for r in reps:
        point, rep = r.auc()
        lo, hi = percentile_interval(rep, level)
        ref = _reference(r, reference)
        for c, crit in enumerate(r.criteria):
            row = {**r.keys, "criterion": crit, "metric": r.metric, "better": r.direction.better, "AUC": point[c], "AUC lo": lo[c],
                   "AUC hi": hi[c]}
            if ref is not None and c != ref:
                shared = [s for s in r.ran(crit) if s in r.ran(reference)]  # both AUCs on one grid
                sp, srep = r.auc(shared)
                row.update(_paired(r, crit, reference, shared, sp[c] - sp[ref], srep[c] - srep[ref],
                                   (f"Δ vs {reference}", "Δ lo", "Δ hi"), level, n_perm))
                if r.direction.relative is not None:  # a metric read in ratios (perplexity): AUC(c) / AUC(ref) too
                    with _quiet():
                        rlo, rhi = percentile_interval(srep[c] / srep[ref], level)
                    row.update({f"ratio vs {reference}": sp[c] / sp[ref], "ratio lo": rlo, "ratio hi": rhi})
            rows.append(row)
    return pd.DataFrame(rows)


def _within(d, tol: float | None, rel_tol: float | None) -> str:
    """The tolerance in words: "1 point", "+5 %" (worse by at most), or the absolute value given."""
    if rel_tol is not None:
        return f"{'-' if d.higher_is_better else '+'}{100 * rel_tol:g} %"
    return d.within if tol is None else f"{tol:g}"


def prunable_table(reps: list[Replicates], *, tol: float | None = None, level: float = LEVEL,
                   rel_tol: float | None = None) -> pd.DataFrame:
    """Largest % of heads pruned such that, at that and every smaller sparsity, the paired interval of the change
    from the unpruned model stays within ``tol`` on the worse side (``tol`` = one point of the metric by default:
    0.01 for accuracy-like metrics, 1.0 perplexity, 5 % of the unpruned value for word perplexity (the metric's
    ``Direction.tolerance``); ``rel_tol``: that share of the unpruned value instead; the metric's direction decides
    which side is worse); left out
    (None, with the reason) when the unpruned model's interval does not lie on the better side of the
    majority-class (or no-skill) baseline. The share is what the plans really pruned at that level
    (:meth:`Replicates.share`), which a layer-uniform plan rounds to whole units per layer."""
    rows = []
    for r in reps:
        point, rep = r.curve()
        d = r.direction
        for c, crit in enumerate(r.criteria):
            ok = ~np.isnan(point[c])
            ps = [p for p in range(len(r.sparsities)) if ok[p]]
            p0 = ps[0]
            t = rel_tol * abs(point[c, p0]) if rel_tol is not None else d.tolerance(point[c, p0]) if tol is None else tol
            within = [r.share(crit, r.sparsities[p]) for p in ps if d.sign * (point[c, p] - point[c, p0]) >= -t]
            row = {**r.keys, "criterion": crit, "metric": r.metric, "better": r.direction.better, "unpruned": point[c, p0],
                   "baseline": r.baseline, "tolerance": t, "within": _within(d, tol, rel_tol), "point estimate within 1 pt (%)": int(round(100 * max(within)))}
            if r.sparsities[p0] != 0.0:
                row.update({"prunable %": None, "reason": "no unpruned (0 %) point in this series"})
            elif not r.clears_baseline(c, p0, level):
                row.update({"prunable %": None, "reason": f"unpruned model's {int(100 * level)} % interval "
                            f"({d.worse_end} end {r.unpruned_bound(c, p0, level):.4f}) does not clear the baseline {r.baseline:.4f}"})
            else:
                best = r.share(crit, r.sparsities[p0])
                for p in ps[1:]:
                    worst, _ = percentile_interval(d.sign * (rep[c, p] - rep[c, p0]), level)  # the worse end
                    if worst < -t:
                        break
                    best = max(best, r.share(crit, r.sparsities[p]))
                first = ps[1] if len(ps) > 1 else p0
                lost = d.sign * (point[c, first] - point[c, p0]) < -t  # the point estimate itself is > 1 point worse
                row.update({"prunable %": int(round(100 * best)), "reason": "ok" if best > 0 else
                            ("the first pruning step already costs more than 1 point" if lost else
                             "the first step's interval reaches beyond 1 point worse (more dev examples needed)")})
            rows.append(row)
    return pd.DataFrame(rows)


def delta_table(reps: list[Replicates], *, level: float = LEVEL) -> pd.DataFrame:
    """One row per (run, eval language, criterion, pruned sparsity): metric minus the unpruned model's, with its
    paired 95 % interval (same examples and seeds) and whether the interval excludes 0."""
    rows = []
    for r in reps:
        point, rep = r.curve()
        for c, crit in enumerate(r.criteria):
            ran = [p for p in range(len(r.sparsities)) if point[c, p] == point[c, p]]
            p0 = ran[0]
            for p in ran[1:]:
                lo, hi = percentile_interval(rep[c, p] - rep[c, p0], level)
                delta, sig = point[c, p] - point[c, p0], bool(lo > 0 or hi < 0)
                rows.append({**r.keys, "criterion": crit, "sparsity": r.sparsities[p], "metric": r.metric,
                             "better": r.direction.better, "delta": delta, "lo": lo, "hi": hi, "significant": sig,
                             "vs unpruned": r.direction.reading(delta, sig)})
    return pd.DataFrame(rows)
