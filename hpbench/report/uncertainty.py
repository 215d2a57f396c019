"""Uncertainty of dev-set metrics: bootstrap intervals, paired tests between criteria, "prunable within 1 point".

All functions take per-example labels and predictions (what a 0.95 interval needs: the dev examples are
the sample), and any metric ``fn(y_true, y_pred) -> float`` (accuracy, F1, correlations, seqeval F1).

* :func:`bootstrap_ci`: percentile bootstrap over examples (Efron & Tibshirani 1993, ch. 13).
* :func:`paired_permutation_test`: two predictors on the same examples; under H0 (exchangeable) each
  example's two predictions are swapped with probability 1/2; p = (1 + #{|d*| >= |d|}) / (1 + B)
  (an exact-level Monte Carlo test; Dror et al. 2018 recommend it for NLP metrics).
* :func:`prunable_within`: the largest sparsity whose paired bootstrap interval of (metric - unpruned)
  stays above -tol, at that and every lower sparsity; None when the unpruned model's interval does
  not clear the majority baseline (nothing worth pruning was learned).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

Metric = Callable[[Sequence, Sequence], float]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def bootstrap_ci(metric: Metric, y_true: Sequence, y_pred: Sequence, *, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """(point estimate, lower, upper): the metric on all examples and the percentile interval of the metric
    over ``n_boot`` resamples of the examples (with replacement)."""
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    n = len(y_true)
    if n == 0 or n != len(y_pred):
        raise ValueError(f"need as many predictions as labels (> 0), got {n} labels and {len(y_pred)} predictions")
    idx = _rng(seed).integers(0, n, size=(n_boot, n))
    stats = np.array([metric(list(y_true[i]), list(y_pred[i])) for i in idx], dtype=float)
    lo, hi = np.nanpercentile(stats, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(metric(list(y_true), list(y_pred))), float(lo), float(hi)


def paired_permutation_test(metric: Metric, y_true: Sequence, pred_a: Sequence, pred_b: Sequence, *,
                            n_perm: int = 1000, seed: int = 0) -> float:
    """Two-sided p-value for "A and B score the same on these examples" (swap-per-example permutation test)."""
    y, a, b = (np.asarray(v, dtype=object) for v in (y_true, pred_a, pred_b))
    if not len(y) == len(a) == len(b):
        raise ValueError(f"labels and both predictions must have one entry per example: {len(y)}, {len(a)}, {len(b)}")
    observed = abs(metric(list(y), list(a)) - metric(list(y), list(b)))
    swaps = _rng(seed).random((n_perm, len(y))) < 0.5
    count = 0
    for s in swaps:
        pa, pb = np.where(s, b, a), np.where(s, a, b)
        count += abs(metric(list(y), list(pa)) - metric(list(y), list(pb))) >= observed - 1e-12
    return (1 + count) / (1 + n_perm)


def paired_difference_ci(metric: Metric, y_true: Sequence, pred: Sequence, base: Sequence, *, n_boot: int = 1000,
                         level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(difference, lower, upper) of metric(pred) - metric(base) on the same resampled examples."""
    y, p, q = (np.asarray(v, dtype=object) for v in (y_true, pred, base))
    idx = _rng(seed).integers(0, len(y), size=(n_boot, len(y)))
    d = np.array([metric(list(y[i]), list(p[i])) - metric(list(y[i]), list(q[i])) for i in idx], dtype=float)
    lo, hi = np.nanpercentile(d, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(metric(list(y), list(p)) - metric(list(y), list(q))), float(lo), float(hi)


def prunable_within(metric: Metric, y_true: Sequence, preds: dict[float, Sequence], *, tol: float = 0.01,
                    majority: float | None = None, n_boot: int = 1000, seed: int = 0) -> tuple[float | None, str]:
    """(largest sparsity prunable within ``tol`` with 95 % confidence, reason).

    ``preds`` maps sparsity -> predictions, with the unpruned model at the smallest sparsity. A sparsity
    qualifies when the lower end of the paired interval of (metric - unpruned) is >= -tol; the answer is the
    largest sparsity such that it and all smaller ones qualify. None (with the reason) when the unpruned
    model's interval does not lie above ``majority``."""
    levels = sorted(preds)
    base = preds[levels[0]]
    if majority is not None:
        _, lo, _ = bootstrap_ci(metric, y_true, base, n_boot=n_boot, seed=seed)
        if lo <= majority:
            return None, f"unpruned model does not beat the majority baseline ({majority:.4f}) with 95 % confidence"
    best = levels[0]
    for s in levels[1:]:
        _, lo, _ = paired_difference_ci(metric, y_true, preds[s], base, n_boot=n_boot, seed=seed)
        if lo < -tol:
            break
        best = s
    return best, "ok"
