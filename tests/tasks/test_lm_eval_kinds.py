"""Kinds evaluated through lm-evaluation-harness (hpbench/tasks/lm_eval_kinds.py): per-document predictions against a
hand computation from the model's own forward pass (rolling log-likelihood after the prefix token; lm-eval's SST-2
prompt and choices), a pipeline run with ``epochs: 0`` whose stored numbers reproduce the pretrained model's, the
``# newdoc`` reader, and the errors for bad specs and untrained heads."""
import json
import math

import numpy as np
import pytest
import torch

pytest.importorskip("lm_eval", reason="the llm extra (lm-eval) is not installed")

from hpbench.evaluation.evaluate import harness_predict  # noqa: E402
from hpbench.tasks import load_task  # noqa: E402
from hpbench.tasks.conll import read_conllu_texts  # noqa: E402
from hpbench.tasks.kinds import kind_of  # noqa: E402
from hpbench.tasks.specs import SpecError  # noqa: E402
from tiny_models import continuation_logp  # noqa: E402

CONLLU = """# newdoc id = a
# sent_id = 1
# text = The cat sat.
1\tThe\tthe\tDET\t_\t_\t2\tdet\t_\t_
2\tcat\tcat\tNOUN\t_\t_\t3\tnsubj\t_\t_
3\tsat\tsit\tVERB\t_\t_\t0\troot\t_\t_
4\t.\t.\tPUNCT\t_\t_\t3\tpunct\t_\t_

# sent_id = 2
# text = It purred loudly, then slept.
1\tIt\tit\tPRON\t_\t_\t2\tnsubj\t_\t_

# newdoc id = b
# sent_id = 3
# text = Heads were pruned and perplexity rose.
1\tHeads\thead\tNOUN\t_\t_\t0\troot\t_\t_

# newdoc id = c
# sent_id = 4
# text = A short one.
1\tA\ta\tDET\t_\t_\t0\troot\t_\t_
"""
DOCS = ["The cat sat. It purred loudly, then slept.", "Heads were pruned and perplexity rose.", "A short one."]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> str:
    """A folder holding a whole tiny random causal LM (tiny-random-llama's base weights plus a saved LM head: the
    registry's tiny model has none, so each load would draw a new head) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hpbench.models.registry import resolve_model

    src, out = resolve_model("tiny-random-llama"), tmp_path_factory.mktemp("tiny-lm")
    torch.manual_seed(0)
    AutoModelForCausalLM.from_pretrained(src).save_pretrained(out)
    AutoTokenizer.from_pretrained(src).save_pretrained(out)
    return str(out)


def _tiny(path: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def _hand_ll(model, tok, text: str) -> float:
    """log p(text) after the prefix token ([CLS]: the tiny tokenizer has no <bos> or <eos>), fp32, one forward."""
    ids = torch.tensor([[tok.cls_token_id] + tok(text)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits.double(), -1)
    return float(logp[0, :-1].gather(-1, ids[0, 1:, None]).sum())


def _ppl_spec(tmp_path) -> dict:
    (tmp_path / "d.conllu").write_text(CONLLU)
    f = str(tmp_path / "d.conllu")
    return {"name": "tiny_ppl", "kind": "lm_perplexity", "source": {"format": "conllu", "unit": "document",
            "files": {"train": f, "dev": f}}, "columns": {"text": "text"}}


def test_conllu_documents_join_the_text_lines_of_each_newdoc(tmp_path):
    (tmp_path / "d.conllu").write_text(CONLLU)
    assert read_conllu_texts(tmp_path / "d.conllu", documents=True) == DOCS
    assert read_conllu_texts(tmp_path / "d.conllu") == ["The cat sat.", "It purred loudly, then slept.",
                                                        "Heads were pruned and perplexity rose.", "A short one."]


def test_lm_perplexity_predictions_are_words_and_hand_computed_nll(tmp_path, tiny_lm):
    task = load_task(_ppl_spec(tmp_path), register=False)
    ex = task.load("dev")
    assert [e.text for e in ex] == DOCS
    model, tok = _tiny(tiny_lm)
    ys, ps = harness_predict(model, task, tok, ex, batch_size=2, precision="fp32")
    assert ys == [len(d.split()) for d in DOCS]
    assert ps == pytest.approx([-_hand_ll(model, tok, d) for d in DOCS], rel=1e-4)
    got = kind_of(task).score(task, ys, ps)["word_perplexity"]
    assert got == pytest.approx(math.exp(sum(ps) / sum(ys)), rel=1e-12)


def test_lm_choice_predictions_are_lm_evals_sst2_prompt_scored_by_hand(tmp_path, tiny_lm):
    """lm-eval's glue/sst2 task: prompt "{sentence}\\nQuestion: Is this sentence positive or negative?\\nAnswer:",
    continuations " negative" / " positive"; the prediction is the one with the larger summed log-probability."""
    rows = [("a charming and often affecting journey", 1), ("dull , flat and lifeless", 0),
            ("the best film of the year", 1), ("i hated every minute", 0), ("it is what it is", 1)]
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows))
    spec = {"name": "tiny_sst2", "kind": "lm_choice", "source": {"format": "tsv", "files": {"train": str(tmp_path / "dev.tsv"),
            "dev": str(tmp_path / "dev.tsv")}}, "columns": {"text": "sentence", "label": "label"},
            "labels": ["negative", "positive"], "lm_eval": {"task": "glue/sst2/default.yaml", "fields": {"text": "sentence"}}}
    task = load_task(spec, register=False)
    model, tok = _tiny(tiny_lm)
    ys, ps = harness_predict(model, task, tok, task.load("dev"), batch_size=2, precision="fp32")

    def logp(context: str, continuation: str) -> float:
        return continuation_logp(model, tok, context, continuation)

    want = []
    for s, _ in rows:
        prompt = f"{s}\nQuestion: Is this sentence positive or negative?\nAnswer:"
        want.append(int(logp(prompt, " positive") > logp(prompt, " negative")))
    assert ys == [y for _, y in rows] and ps == want
    assert kind_of(task).score(task, ys, ps)["accuracy"] == pytest.approx(np.mean(np.array(ys) == np.array(want)))
    assert kind_of(task).baseline(task, task.load("dev"))["accuracy"] == pytest.approx(3 / 5)  # the majority class


def test_bad_lm_eval_specs_and_untrained_heads_are_refused_before_any_work(tmp_path):
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nx\t0\n")
    base = {"name": "bad", "kind": "lm_choice", "source": {"format": "tsv", "files": {"dev": str(tmp_path / "dev.tsv")}},
            "columns": {"text": "sentence", "label": "label"}, "labels": ["negative", "positive"]}
    with pytest.raises(SpecError, match=r"lm_eval: lm_choice tasks need \{task: <lm-eval YAML"):
        load_task(base, register=False)
    with pytest.raises(SpecError, match=r"lm_eval.fields: roles \['premise'\]; allowed: text \(required\), text_pair"):
        load_task({**base, "lm_eval": {"task": "glue/sst2/default.yaml", "fields": {"premise": "sentence"}}}, register=False)
    from hpbench.run.config import RunConfig

    with pytest.raises(ValueError, match=r"epochs=0 \(no fine-tuning\) needs a task whose kind uses the pretrained "
                                         r"model's own head \(allowed kinds: causal_lm, lm_choice, lm_perplexity\); task 'sst2' is of "
                                         r"kind 'classification'"):
        RunConfig(model="tiny-random-llama", task="sst2", epochs=0, results_dir=str(tmp_path)).validate()


def test_zero_shot_run_stores_the_pretrained_models_lm_eval_numbers(tmp_path, monkeypatch, tiny_lm):
    """epochs=0: no checkpoint is trained; the unpruned row is the pretrained model's word perplexity by hand, every
    row's value is exp(Σ NLL / Σ words) of its stored per-document predictions, and wanda_sp's plans are
    layer-uniform (the same number of heads pruned in each layer)."""
    from hpbench.run import run_benchmark

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "t.yaml").write_text(json.dumps(_ppl_spec(tmp_path)))
    t = run_benchmark(model=tiny_lm, task=str(tmp_path / "t.yaml"), criteria=["wanda_sp", "random"],
                      sparsities=[0.0, 0.5], seeds=[0], epochs=0, n_score=3, results_dir=str(tmp_path / "res"),
                      precision="fp32")
    assert not (tmp_path / "cache" / "finetuned").exists()
    model, tok = _tiny(tiny_lm)
    hand = math.exp(-sum(_hand_ll(model, tok, d) for d in DOCS) / sum(len(d.split()) for d in DOCS))
    r = t["results"].set_index(["criterion", "sparsity"])["value"]
    assert r[("random", 0.0)] == pytest.approx(hand, rel=1e-4)
    for row in t["predictions"].itertuples():
        y, p = np.array(json.loads(row.y_true)), np.array(json.loads(row.y_pred))
        assert r[(row.criterion, row.sparsity)] == pytest.approx(np.exp(p.sum() / y.sum()), rel=1e-9)
    from hpbench.models.masks import mask_from_key

    m = t["masks"].set_index(["criterion", "sparsity"])["mask"]
    keep = mask_from_key(m[("wanda_sp", 0.5)], (4, 8))  # tiny-random-llama: 4 layers x 8 query heads
    assert (~keep).sum(1).tolist() == [4, 4, 4, 4]
