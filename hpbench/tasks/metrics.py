"""Task metrics without the hub, with the GLUE / seqeval definitions, and each metric's direction.

GLUE (Wang et al. 2019): accuracy; F1 of the positive class (MRPC, QQP); Matthews correlation
(CoLA); Pearson and Spearman correlation (STS-B). seqeval: entity-level micro F1 (CoNLL).
Language modelling: perplexity = exp(sum NLL / sum tokens), **lower is better**.

Every table and figure that says "better", "within 1 point", "prunable" or "Pareto front" reads the
metric's :class:`Direction` (``direction(name)``); register a metric with its direction::

    @hpbench.tasks.metrics.register_metric("word_error_rate", higher_is_better=False, point=0.01)
    def wer(y_true, y_pred): ...
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..core.registry import Registry

METRICS: Registry[Callable[[Sequence, Sequence], float]] = Registry("metric")


@dataclass(frozen=True)
class Direction:
    """higher_is_better: which way is better; point: the size of "one point" of the metric (0.01 for
    metrics in [0, 1]: one percentage point; 1.0 for perplexity: one perplexity point)."""

    higher_is_better: bool = True
    point: float = 0.01
    # "prunable within" tolerance as a share of the unpruned value instead of one point (word perplexity: 0.05, the
    # LLM-pruning papers' reading: one perplexity point is 0.4 % of a word perplexity of 240)
    relative: float | None = None

    def tolerance(self, unpruned: float) -> float:
        """How much worse than ``unpruned`` still counts as "within": one point, or the relative share of it."""
        return self.point if self.relative is None else self.relative * abs(unpruned)

    @property
    def within(self) -> str:
        """"1 point" or "+5 %" (worse by at most), for texts."""
        return "1 point" if self.relative is None else f"{'-' if self.higher_is_better else '+'}{100 * self.relative:g} %"

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is: ``sign * (a - b) > 0`` means a is better than b."""
        return 1 if self.higher_is_better else -1

    @property
    def better(self) -> str:
        """"higher" or "lower" (the tables' ``better`` column)."""
        return "higher" if self.higher_is_better else "lower"

    @property
    def label(self) -> str:
        return f"{self.better} is better"

    @property
    def worse_end(self) -> str:
        """The end of an interval on the worse side: "lower" when higher is better, else "upper"."""
        return "lower" if self.higher_is_better else "upper"

    def reading(self, diff: float, significant: bool) -> str:
        """better / worse / no difference for a difference ``diff`` (a - b) read in this direction."""
        return ("better" if self.sign * diff > 0 else "worse") if significant else "no difference"


DIRECTIONS: Registry[Direction] = Registry("metric direction")


def register_metric(name: str, *, higher_is_better: bool = True, point: float = 0.01, overwrite: bool = False,
                    relative: float | None = None):
    """Decorator registering ``fn(y_true, y_pred) -> float`` under ``name`` with its direction."""
    if not point > 0:
        raise ValueError(f"metric {name!r}: point={point!r} must be > 0 (the size of one point of the metric)")

    def deco(fn):
        METRICS.add(name, fn, overwrite=overwrite)
        DIRECTIONS.add(name, Direction(bool(higher_is_better), float(point), relative), overwrite=overwrite)
        return fn

    return deco


def direction(name: str) -> Direction:
    """The direction of a registered metric (a metric added to ``METRICS`` directly: higher is better)."""
    if name in DIRECTIONS:
        return DIRECTIONS.get(name)
    METRICS.get(name)  # unknown: the registry's error lists the metrics
    return Direction()


@register_metric("accuracy")
def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Share of predictions equal to the label."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if len(y_true) else float("nan")


@register_metric("f1")
def f1(y_true: Sequence, y_pred: Sequence) -> float:
    """F1 of the positive class (label 1), as GLUE reports for MRPC/QQP."""
    from sklearn.metrics import f1_score

    return float(f1_score(np.asarray(y_true), np.asarray(y_pred), pos_label=1, zero_division=0.0))


@register_metric("matthews")
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


@register_metric("pearson")
def pearson(y_true: Sequence, y_pred: Sequence) -> float:
    """Pearson correlation (STS-B); nan when a side is constant."""
    from scipy.stats import pearsonr

    return _correlation(pearsonr, y_true, y_pred)


@register_metric("spearman")
def spearman(y_true: Sequence, y_pred: Sequence) -> float:
    """Spearman rank correlation (STS-B); nan when a side is constant."""
    from scipy.stats import spearmanr

    return _correlation(spearmanr, y_true, y_pred)


@register_metric("seqeval_f1")
def seqeval_f1(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> float:
    """Entity-level micro F1 over IOB2 tag sequences (seqeval, CoNLL definition)."""
    from seqeval.metrics import f1_score

    return float(f1_score([list(s) for s in y_true], [list(s) for s in y_pred]))


@register_metric("perplexity", higher_is_better=False, point=1.0)
def perplexity(y_true: Sequence[int], y_pred: Sequence[float]) -> float:
    """exp(sum_i NLL_i / sum_i n_i): ``y_true`` = predicted tokens per text (n_i), ``y_pred`` = their summed
    negative log-likelihood in nats (NLL_i), as the ``causal_lm`` kind stores them. Lower is better."""
    n = float(np.sum(np.asarray(y_true, float)))
    return float(np.exp(np.sum(np.asarray(y_pred, float)) / n)) if n > 0 else float("nan")


@register_metric("word_perplexity", higher_is_better=False, point=1.0, relative=0.05)
def word_perplexity(y_true: Sequence[int], y_pred: Sequence[float]) -> float:
    """lm-eval's word perplexity, exp(sum_i NLL_i / sum_i words_i): ``y_true`` = words of each document, ``y_pred`` =
    its negative log-likelihood in nats (the ``lm_perplexity`` kind). Lower is better."""
    return perplexity(y_true, y_pred)


def compute(names: Sequence[str], y_true, y_pred) -> dict[str, float]:
    """Compute several metrics by name."""
    return {n: METRICS.get(n)(y_true, y_pred) for n in names}
