"""Task metrics without the hub, with the GLUE / seqeval definitions.

GLUE (Wang et al. 2019): accuracy; F1 of the positive class (MRPC, QQP); Matthews correlation
(CoLA); Pearson and Spearman correlation (STS-B). seqeval: entity-level micro F1 (CoNLL).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..core.registry import Registry

METRICS: Registry[Callable[[Sequence, Sequence], float]] = Registry("metric")


@METRICS.register("accuracy")
def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Share of predictions equal to the label."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if len(y_true) else float("nan")


@METRICS.register("f1")
def f1(y_true: Sequence, y_pred: Sequence) -> float:
    """F1 of the positive class (label 1), as GLUE reports for MRPC/QQP."""
    from sklearn.metrics import f1_score

    return float(f1_score(np.asarray(y_true), np.asarray(y_pred), pos_label=1, zero_division=0.0))


@METRICS.register("matthews")
def matthews(y_true: Sequence, y_pred: Sequence) -> float:
    """Matthews correlation coefficient (CoLA)."""
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(np.asarray(y_true), np.asarray(y_pred)))


def _correlation(stat, y_true: Sequence, y_pred: Sequence) -> float:
    """``stat(a, b)[0]`` over float arrays; nan when a side is constant (the correlation is undefined)."""
    a, b = np.asarray(y_true, float), np.asarray(y_pred, float)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(stat(a, b)[0])


@METRICS.register("pearson")
def pearson(y_true: Sequence, y_pred: Sequence) -> float:
    """Pearson correlation (STS-B); nan when a side is constant."""
    from scipy.stats import pearsonr

    return _correlation(pearsonr, y_true, y_pred)


@METRICS.register("spearman")
def spearman(y_true: Sequence, y_pred: Sequence) -> float:
    """Spearman rank correlation (STS-B); nan when a side is constant."""
    from scipy.stats import spearmanr

    return _correlation(spearmanr, y_true, y_pred)


@METRICS.register("seqeval_f1")
def seqeval_f1(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> float:
    """Entity-level micro F1 over IOB2 tag sequences (seqeval, CoNLL definition)."""
    from seqeval.metrics import f1_score

    return float(f1_score([list(s) for s in y_true], [list(s) for s in y_pred]))


def compute(names: Sequence[str], y_true, y_pred) -> dict[str, float]:
    """Compute several metrics by name."""
    return {n: METRICS.get(n)(y_true, y_pred) for n in names}


def majority_baseline(task, examples) -> dict[str, float]:
    """The task's metrics for always predicting the most frequent label (classification tasks only; {} otherwise):
    an unpruned model that does not beat this has learned nothing worth pruning."""
    if task.kind != "classification":
        return {}
    from collections import Counter

    ys = [e.label for e in examples]
    top = Counter(ys).most_common(1)[0][0]
    return compute(task.metrics, ys, [top] * len(ys))
