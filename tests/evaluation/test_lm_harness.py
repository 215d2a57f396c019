"""Perplexity through lm-evaluation-harness (hpbench/evaluation/lm_harness.py) against a hand computation: each
document's log-likelihood as the sum of log-softmax scores of its tokens (the tokenizer's default encoding) after the
prefix token, from the model's own forward pass; word / byte perplexity and bits per byte from those sums by lm-eval 0.4's wikitext formulas."""
import math

import pytest
import torch

lm_eval = pytest.importorskip("lm_eval", reason="the llm extra (lm-eval) is not installed")

from tiny_models import continuation_logp  # noqa: E402

TEXTS = ["The cat sat on the mat.", "It was a sunny day, and the children were playing near the river.",
         "Pruning heads changes perplexity.",
         "[...]", '"Lenhart, Matthew"']  # UD EWT sentences that are Python literals: scored as written


def _tiny_llama():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hpbench.models.registry import resolve_model

    path = resolve_model("tiny-random-llama")
    tok = AutoTokenizer.from_pretrained(path)
    tok.bos_token = "[CLS]"  # a prefix token for the first token of each document (lm-eval uses <bos>)
    return AutoModelForCausalLM.from_pretrained(path).eval(), tok


def test_rolling_loglikelihoods_and_perplexities_equal_a_hand_computation():
    from hpbench.evaluation.lm_harness import perplexities, rolling_loglikelihoods

    model, tok = _tiny_llama()
    lls, agg = rolling_loglikelihoods(model, tok, TEXTS, batch_size=2, device="cpu")
    hand = []
    for t in TEXTS:
        # the tokenizer's default encoding (lm-eval 0.4.13 passes no add_special_tokens), after the prefix token
        ids = torch.tensor([[tok.bos_token_id] + tok(t)["input_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits.double(), -1)
        hand.append(float(logp[0, :-1].gather(-1, ids[0, 1:, None]).sum()))
    assert lls == pytest.approx(hand, rel=1e-4)
    words = sum(len(t.split()) for t in TEXTS)
    nbytes = sum(len(t.encode()) for t in TEXTS)
    want = {"word_perplexity": math.exp(-sum(hand) / words), "byte_perplexity": math.exp(-sum(hand) / nbytes),
            "bits_per_byte": -sum(hand) / nbytes / math.log(2)}
    ours = perplexities(lls, TEXTS)
    for k, v in want.items():
        assert ours[k] == pytest.approx(v, rel=1e-4), k
        assert agg[k] == pytest.approx(v, rel=1e-4), k  # lm-eval's own aggregate agrees


def test_empty_or_blank_documents_are_refused_before_any_work():
    from hpbench.evaluation.lm_harness import rolling_loglikelihoods

    with pytest.raises(ValueError, match="non-empty list of non-empty strings"):
        rolling_loglikelihoods(None, None, ["fine", "  "])


def test_zero_shot_multiple_choice_is_lm_evals_rte_prompt_scored_by_hand():
    """lm-eval's own RTE task (prompt, choices " True"/" False", label 0 = True) on local docs: each document's answer
    is the choice whose continuation tokens have the larger summed log-probability after the prompt, by hand."""
    from hpbench.evaluation.lm_harness import multiple_choice

    model, tok = _tiny_llama()
    docs = [{"sentence1": "The cat sat on the mat.", "sentence2": "A cat sat.", "label": 0},
            {"sentence1": "It rained all day.", "sentence2": "The ground is dry.", "label": 1},
            {"sentence1": "Heads were pruned.", "sentence2": "Some heads remain.", "label": 0},
            {"sentence1": "The river froze.", "sentence2": "It was warm.", "label": 1}]
    acc = multiple_choice(model, tok, "rte", docs, batch_size=2, device="cpu")

    def logp(context: str, continuation: str) -> float:
        return continuation_logp(model, tok, context, continuation)

    for d, a in zip(docs, acc):
        prompt = f"{d['sentence1']}\nQuestion: {d['sentence2']} True or False?\nAnswer:"
        scores = [logp(prompt, " True"), logp(prompt, " False")]
        assert a == float(int(scores[1] > scores[0]) == d["label"])
    with pytest.raises(ValueError, match=r"unknown zero-shot task 'boolq'; available: \['cola', 'mrpc', 'rte', 'sst2'\]"):
        multiple_choice(model, tok, "boolq", docs)
    with pytest.raises(ValueError, match=r"with \['sentence1', 'sentence2', 'label'\]"):
        multiple_choice(model, tok, "rte", [{"sentence1": "x", "label": 0}])
