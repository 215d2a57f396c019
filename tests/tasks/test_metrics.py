import math

import pytest

from hpbench.tasks import metrics as M


def test_accuracy_and_f1_hand_checked():
    y = [1, 0, 1, 1, 0, 0]
    p = [1, 1, 0, 1, 0, 0]
    assert M.accuracy(y, p) == pytest.approx(4 / 6)
    # positive class: tp = 2, fp = 1, fn = 1 -> P = R = 2/3 -> F1 = 2/3
    assert M.f1(y, p) == pytest.approx(2 / 3)


def test_matthews_hand_checked():
    y = [1, 0, 1, 1, 0, 0]
    p = [1, 1, 0, 1, 0, 0]
    tp, tn, fp, fn = 2, 2, 1, 1
    want = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert M.matthews(y, p) == pytest.approx(want)


def test_pearson_spearman_hand_checked():
    y = [1.0, 2.0, 3.0, 4.0]
    p = [1.0, 3.0, 2.0, 5.0]
    my, mp = 2.5, 2.75
    cov = sum((a - my) * (b - mp) for a, b in zip(y, p))
    want = cov / math.sqrt(sum((a - my) ** 2 for a in y) * sum((b - mp) ** 2 for b in p))
    assert M.pearson(y, p) == pytest.approx(want)
    # ranks of p: 1, 3, 2, 4 -> d = 0, 1, -1, 0 -> rho = 1 - 6*2/(4*15) = 0.8
    assert M.spearman(y, p) == pytest.approx(0.8)


def test_seqeval_entity_f1_hand_checked():
    y = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    p = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    # gold entities: PER, LOC, ORG (3); predicted: PER, ORG, ORG (3); correct: PER, ORG(2nd) = 2
    assert M.seqeval_f1(y, p) == pytest.approx(2 / 3)


def test_unknown_metric():
    with pytest.raises(KeyError, match="unknown metric 'acc'; available: accuracy"):
        M.compute(["acc"], [1], [1])


def test_word_perplexity_is_lm_evals_and_prunable_within_five_percent():
    """word_perplexity = exp(Σ NLL / Σ words) (lower is better); "within" is +5 % of the unpruned value, not one
    perplexity point (0.4 % of a word perplexity of 240)."""
    import math

    from hpbench.tasks.metrics import METRICS, direction

    assert METRICS.get("word_perplexity")([10, 30], [25.0, 55.0]) == pytest.approx(math.exp(80.0 / 40))
    d = direction("word_perplexity")
    assert not d.higher_is_better and d.tolerance(240.0) == pytest.approx(12.0) and d.within == "+5 %"
    assert direction("accuracy").tolerance(0.9) == 0.01 and direction("accuracy").within == "1 point"


def test_findings_say_which_models_are_dequantised_from_4_bit_gguf():
    from hpbench.report.findings import _quantised_models

    text = _quantised_models(["minilm", "smollm2-135m", "gemma3-270m"])
    assert "dequantised from 4-bit GGUF" in text and "smollm2-135m" in text and "gemma3-270m" in text
    assert "minilm" not in text and _quantised_models(["minilm"]) == ""
