"""Uncertainty helpers against their nominal rates on synthetic data with known truth."""
import numpy as np

from hpbench.report.uncertainty import bootstrap_ci, paired_permutation_test, prunable_within
from hpbench.tasks.metrics import accuracy


def _fast_accuracy(y, p):  # same definition as hpbench's accuracy, on already-equal-length lists
    return float(np.mean(np.asarray(y) == np.asarray(p)))


def _predict(rng, y, acc):
    """Predictions that are right with probability ``acc``, independently per example (binary labels)."""
    return np.where(rng.random(len(y)) < acc, y, 1 - y)


def test_accuracy_helper_agrees_with_the_metric():
    y, p = [0, 1, 1, 0, 1], [0, 1, 0, 0, 0]
    assert _fast_accuracy(y, p) == accuracy(y, p) == 0.6


def test_bootstrap_interval_covers_the_true_accuracy_at_its_nominal_rate():
    rng = np.random.default_rng(0)
    true_acc, n, sims = 0.8, 300, 400
    covered = 0
    for k in range(sims):
        y = rng.integers(0, 2, n)
        _, lo, hi = bootstrap_ci(_fast_accuracy, y, _predict(rng, y, true_acc), n_boot=400, seed=k)
        covered += lo <= true_acc <= hi
    assert abs(covered / sims - 0.95) <= 0.03, covered / sims


def test_paired_test_false_positive_rate_on_two_identical_criteria():
    rng = np.random.default_rng(1)
    n, sims, alpha = 200, 400, 0.05
    rejections = 0
    for k in range(sims):
        y = rng.integers(0, 2, n)  # two criteria of the same quality, independent errors
        a, b = _predict(rng, y, 0.75), _predict(rng, y, 0.75)
        rejections += paired_permutation_test(_fast_accuracy, y, a, b, n_perm=199, seed=k) <= alpha
    assert rejections / sims <= 0.05 + 0.02, rejections / sims


def test_paired_test_detects_a_real_difference():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    a, b = _predict(rng, y, 0.9), _predict(rng, y, 0.7)
    assert paired_permutation_test(_fast_accuracy, y, a, b, n_perm=499, seed=0) < 0.01


def test_prunable_within_on_a_curve_with_known_noise():
    """True accuracy 0.85 up to 40 % pruned, then 0.80, 0.70: prunable within 1 point is 40 % (the answer
    must not reach 50 %, where the true drop is 5 points) and not below 30 % with 1,000 examples."""
    rng = np.random.default_rng(3)
    n = 1000
    y = rng.integers(0, 2, n)
    u = rng.random(n)  # one latent difficulty per example: pruning breaks the hardest examples first
    truth = {0.0: 0.85, 0.1: 0.85, 0.2: 0.85, 0.3: 0.85, 0.4: 0.85, 0.5: 0.80, 0.6: 0.70}
    preds = {s: np.where(u < acc, y, 1 - y) for s, acc in truth.items()}
    s, why = prunable_within(_fast_accuracy, y, preds, tol=0.01, n_boot=500)
    assert why == "ok" and s == 0.4
    s, why = prunable_within(_fast_accuracy, y, preds, tol=0.01, majority=0.9, n_boot=200)
    assert s is None and "majority" in why
