"""A metric on many bootstrap resamples (or paired permutations) of the dev examples at once.

A resample is a count vector ``w`` over examples (how often each example was drawn; ``w = 1`` is the
dev set itself). For metrics that are functions of per-example sums (:class:`Decomposable`: accuracy,
positive-class F1, binary Matthews correlation, Pearson correlation, seqeval's entity-level micro F1,
perplexity)
the metric of every resample is ``finish(W @ stats)``, one matrix product for ``B`` resamples, and a
paired permutation swaps rows of two predictors' ``stats``. Spearman re-ranks each resample. Any other
registered metric (a user's) falls back to calling it once per resample.

``resample(metric, y, preds, W)`` -> ``[len(preds), B]``: the metric of each prediction vector (several
seeds or criteria on the same examples) under each resample, so differences are paired by construction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..core.registry import Registry
from ..tasks import metrics as M


@dataclass(frozen=True)
class Decomposable:
    """A metric = ``finish(sum_i stats_i)``: ``stats(y, p) -> [n, k]`` per-example sufficient statistics,
    ``finish([..., k]) -> [...]`` the metric from their (weighted) sums."""

    stats: Callable[[Sequence, Sequence, Sequence[str] | None], np.ndarray]
    finish: Callable[[np.ndarray], np.ndarray]


DECOMPOSABLE: Registry[Decomposable] = Registry("decomposable metric")


def bootstrap_counts(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """``[n_boot, n]`` counts of each example in ``n_boot`` resamples of size ``n`` drawn with replacement."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    w = np.zeros((n_boot, n))
    np.add.at(w, (np.arange(n_boot)[:, None], idx), 1.0)
    return w


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def _binary(y, p, names=None) -> np.ndarray:
    """[n, 4]: tp, fp, fn, tn indicators (class 1 positive)."""
    y, p = np.asarray(y) == 1, np.asarray(p) == 1
    return np.stack([p & y, p & ~y, ~p & y, ~p & ~y], 1).astype(float)


# accuracy = sum [p = y] / n
DECOMPOSABLE.add("accuracy", Decomposable(
    lambda y, p, names=None: np.stack([np.asarray(p) == np.asarray(y), np.ones(len(y), bool)], 1).astype(float),
    lambda s: _ratio(s[..., 0], s[..., 1])))
# F1 of class 1 = 2 tp / (2 tp + fp + fn), 0 when undefined (scikit-learn's zero_division=0)
DECOMPOSABLE.add("f1", Decomposable(_binary, lambda s: _ratio(2 * s[..., 0], 2 * s[..., 0] + s[..., 1] + s[..., 2])))
# Matthews = (tp tn - fp fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)), 0 when undefined (binary labels only)
DECOMPOSABLE.add("matthews", Decomposable(_binary, lambda s: _ratio(
    s[..., 0] * s[..., 3] - s[..., 1] * s[..., 2],
    np.sqrt((s[..., 0] + s[..., 1]) * (s[..., 0] + s[..., 2]) * (s[..., 3] + s[..., 1]) * (s[..., 3] + s[..., 2])))))


def _moments(y, p, names=None) -> np.ndarray:
    y, p = np.asarray(y, float), np.asarray(p, float)
    return np.stack([np.ones_like(y), y, p, y * y, p * p, y * p], 1)


def _pearson_finish(s: np.ndarray) -> np.ndarray:
    """Pearson from sums of 1, y, p, y^2, p^2, y p; nan when a side is constant."""
    n, sy, sp, syy, spp, syp = (s[..., k] for k in range(6))
    vy, vp = syy - sy * sy / n, spp - sp * sp / n
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (syp - sy * sp / n) / np.sqrt(vy * vp)
    return np.where((vy > 1e-12 * np.maximum(syy, 1)) & (vp > 1e-12 * np.maximum(spp, 1)), r, np.nan)


DECOMPOSABLE.add("pearson", Decomposable(_moments, _pearson_finish))


def entity_counts(y_tags: Sequence[str], p_tags: Sequence[str]) -> tuple[int, int, int]:
    """(correct, predicted, true) entities of one sentence (IOB2, seqeval's default entity extraction)."""
    from seqeval.metrics.sequence_labeling import get_entities

    t, p = set(get_entities(list(y_tags))), set(get_entities(list(p_tags)))
    return len(t & p), len(p), len(t)


def _entities(y, p, names=None) -> np.ndarray:
    if names is None:
        raise ValueError("seqeval_f1 needs the task's label names to read tag ids")
    return np.array([entity_counts([names[t] for t in a], [names[t] for t in b]) for a, b in zip(y, p)], float).reshape(-1, 3)


# seqeval micro F1 = 2 correct / (predicted + true), summed over sentences (entities never span sentences)
DECOMPOSABLE.add("seqeval_f1", Decomposable(_entities, lambda s: _ratio(2 * s[..., 0], s[..., 1] + s[..., 2])))


# perplexity = exp(sum NLL / sum tokens): y = tokens of each text, p = its summed NLL (nats); word perplexity the same
# with y = words of each document
_PERPLEXITY = Decomposable(lambda y, p, names=None: np.stack([np.asarray(p, float), np.asarray(y, float)], 1),
                           lambda s: np.exp(_ratio(s[..., 0], s[..., 1])))
DECOMPOSABLE.add("perplexity", _PERPLEXITY)
DECOMPOSABLE.add("word_perplexity", _PERPLEXITY)


def _is_token(y: Sequence) -> bool:
    """Token tasks: one list of tags per sentence (their metrics other than seqeval are over all tokens)."""
    return len(y) > 0 and isinstance(y[0], (list, tuple, np.ndarray))


def _flat(v: Sequence) -> np.ndarray:
    return np.concatenate([np.asarray(s) for s in v]) if len(v) else np.array([])


def _decomposable(metric: str, y, preds) -> Decomposable | None:
    if metric not in DECOMPOSABLE:
        return None
    token = _is_token(y) and metric != "seqeval_f1"
    if metric == "matthews" and any(not set(np.unique(_flat(v) if token else np.asarray(v))) <= {0, 1} for v in [y, *preds]):
        return None  # multiclass Matthews: generic path
    d = DECOMPOSABLE.get(metric)
    if token:  # a sentence's statistics = the sum of its tokens' (the metric is over all tokens)
        return Decomposable(lambda a, b, names=None: np.array([d.stats(s, t, names).sum(0) for s, t in zip(a, b)]), d.finish)
    return d


def _metric_fn(metric: str, y: Sequence):
    """The metric called on drawn examples; for token tasks on their concatenated tokens."""
    fn = M.METRICS.get(metric)
    if _is_token(y) and metric != "seqeval_f1":
        return lambda a, b: fn(_flat(a), _flat(b))
    return fn


def _objects(v: Sequence) -> np.ndarray:
    """A 1-d object array of ``v``'s items (token tasks: one list per sentence, never a 2-d array)."""
    a = np.empty(len(v), dtype=object)
    for i, x in enumerate(v):
        a[i] = x
    return a


def _generic(fn, y, preds, W) -> np.ndarray:
    """Call ``fn(y_drawn, p_drawn)`` once per resample and prediction vector."""
    y = _objects(y)
    ps = [_objects(p) for p in preds]
    out = np.empty((len(preds), len(W)))
    for b, w in enumerate(W):
        idx = np.repeat(np.arange(len(y)), w.astype(int))
        for s, p in enumerate(ps):
            out[s, b] = fn(list(y[idx]), list(p[idx]))
    return out


def resample(metric: str, y: Sequence, preds: Sequence[Sequence], W: np.ndarray,
             label_names: Sequence[str] | None = None) -> np.ndarray:
    """``[len(preds), len(W)]``: ``metric`` of each prediction vector under each count vector of ``W``.
    Spearman re-ranks each resample; a metric that is neither is called once per resample."""
    d = _decomposable(metric, y, preds)
    if d is not None:
        return np.stack([d.finish(W @ d.stats(y, p, label_names)) for p in preds])
    if metric == "spearman" and not _is_token(y):
        return _spearman(y, preds, W)
    return _generic(_metric_fn(metric, y), y, preds, W)


def _row_spearman(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row pair of ``Y`` and ``P`` ([B, n]): Pearson of average ranks; nan when constant."""
    from scipy.stats import rankdata

    ry, rp = rankdata(Y, axis=1), rankdata(P, axis=1)
    ry, rp = ry - ry.mean(1, keepdims=True), rp - rp.mean(1, keepdims=True)
    den = np.sqrt((ry * ry).sum(1) * (rp * rp).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ry * rp).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def _spearman(y, preds, W) -> np.ndarray:
    """Spearman of each resample (rows of W sum to n): the drawn examples as a [B, n] index matrix, ranked at once."""
    y = np.asarray(y, float)
    n = len(y)
    idx = np.repeat(np.tile(np.arange(n), len(W)), W.astype(int).ravel()).reshape(len(W), -1)
    return np.stack([_row_spearman(y[idx], np.asarray(p, float)[idx]) for p in preds])


def permutation_differences(metric: str, y: Sequence, a: Sequence, b: Sequence, swaps: np.ndarray,
                            label_names: Sequence[str] | None = None) -> np.ndarray:
    """``[1 + B]``: metric(a) - metric(b), then the same after swapping the two predictions of the examples
    where ``swaps[k]`` is True (paired permutation test; Dror et al. 2018)."""
    S = np.vstack([np.zeros(len(y), bool), swaps]).astype(float)
    d = _decomposable(metric, y, [a, b])
    if d is not None:
        sa, sb = d.stats(y, a, label_names), d.stats(y, b, label_names)
        first, second = (1 - S) @ sa + S @ sb, S @ sa + (1 - S) @ sb
        return d.finish(first) - d.finish(second)
    if metric == "spearman" and not _is_token(y):
        Y, A, B = (np.broadcast_to(np.asarray(v, float), S.shape) for v in (y, a, b))
        return _row_spearman(Y, np.where(S > 0, B, A)) - _row_spearman(Y, np.where(S > 0, A, B))
    fn = _metric_fn(metric, y)
    ao, bo = _objects(a), _objects(b)
    return np.array([fn(list(y), list(np.where(s > 0, bo, ao))) - fn(list(y), list(np.where(s > 0, ao, bo))) for s in S])
