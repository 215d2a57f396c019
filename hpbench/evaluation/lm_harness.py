"""Perplexity of a causal LM as EleutherAI's lm-evaluation-harness computes it (the way LLM-pruning papers report it:
LLM-Pruner, FLAP, SliceGPT, Wanda), on local text, offline, for a model object already in memory.

lm-eval's ``loglikelihood_rolling``: each document's log-likelihood is the sum of log p(token | preceding tokens) over
all its tokens (the tokenizer's default encoding, special tokens included: lm-eval 0.4.13 passes no
``add_special_tokens``), the first conditioned on the model's prefix token (``<bos>``, else ``<eos>``), in windows of
the model's maximum length. From the per-document log-likelihoods ll_i (lm-eval 0.4 ``wikitext`` metrics):

* word perplexity = exp(-sum_i ll_i / sum_i words_i), words = whitespace-separated pieces;
* byte perplexity = exp(-sum_i ll_i / sum_i bytes_i), bytes of the UTF-8 text;
* bits per byte = -sum_i ll_i / (sum_i bytes_i ln 2).

Each is a function of per-document sums, so the documents can be bootstrapped and paired between models.
Needs the ``llm`` extra (``lm-eval==0.4.13``).
"""
from __future__ import annotations

import json
import logging
import math
import re
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from ..core.registry import Registry

TASK = "hpbench_rolling_ppl"


def _task_yaml(data: Path) -> str:
    return (f"task: {TASK}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
            "test_split: test\noutput_type: loglikelihood_rolling\ndoc_to_text: \"\"\ndoc_to_target: text\n"
            "should_decontaminate: false\nmetric_list:\n  - metric: word_perplexity\n  - metric: byte_perplexity\n"
            "  - metric: bits_per_byte\n")


def _prefix_token(tokenizer) -> int | None:
    """What the first token is conditioned on: lm-eval's own choice (``<bos>``, else ``<eos>``: None here); a
    tokenizer with neither (BERT-style, the tiny test decoders) gives its ``[CLS]``."""
    if tokenizer.bos_token_id is not None or tokenizer.eos_token_id is not None:
        return None
    if getattr(tokenizer, "cls_token_id", None) is None:
        raise ValueError(f"{type(tokenizer).__name__} has no <bos>, <eos> or [CLS] token to condition a document's first "
                         "token on (lm-eval's prefix token); set tokenizer.bos_token")
    return tokenizer.cls_token_id


def _run_local_task(model, tokenizer, task: str, rows: list[dict], task_yaml, *, batch_size: int, device: str | None
                    ) -> tuple[list[dict], dict]:
    """lm-eval on ``model`` (in memory) over ``rows`` written as local JSONL: (its samples in ``rows`` order, its
    results for ``task``). ``task_yaml(data_path)`` gives the task's YAML."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise RuntimeError("lm-evaluation-harness is not installed: pip install -e '.[llm]' (lm-eval==0.4.13)") from None
    dev = device or str(next(model.parameters()).device)
    quiet = [logging.getLogger(n) for n in ("lm_eval", "lm-eval")]
    levels = [q.level for q in quiet]
    for q in quiet:  # "pretrained model kwarg is not of type str" and the like, at every call
        q.setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="hpbench-lm-eval-") as tmp:
        data = Path(tmp) / "docs.jsonl"
        data.write_text("".join(json.dumps({**row, "i": i}) + "\n" for i, row in enumerate(rows)))
        (Path(tmp) / f"{task}.yaml").write_text(task_yaml(data))
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=dev,
                  prefix_token_id=_prefix_token(tokenizer))
        try:
            # only this task indexed: lm-eval's ~6 s scan of its own task folders would run at every evaluation
            manager = TaskManager(include_path=tmp, include_defaults=False)
            out = simple_evaluate(model=lm, tasks=[task], task_manager=manager, log_samples=True, verbosity="ERROR",
                                  bootstrap_iters=0)  # (hpbench resamples the samples itself; lm-eval's f1 stderr took minutes)
        finally:
            for q, lv in zip(quiet, levels):
                q.setLevel(lv)
    return sorted(out["samples"][task], key=lambda s: s["doc"]["i"]), out["results"][task]


def rolling_loglikelihoods(model, tokenizer, texts: Sequence[str], *, batch_size: int = 8, device: str | None = None
                           ) -> tuple[list[float], dict[str, float]]:
    """(per-document log-likelihoods in ``texts`` order, lm-eval's own aggregate metrics) for ``model`` (in memory)."""
    if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
        raise ValueError("texts must be a non-empty list of non-empty strings (documents to score)")
    samples, results = _run_local_task(model, tokenizer, TASK, [{"text": t} for t in texts], _task_yaml,
                                       batch_size=batch_size, device=device)
    lls = [float(s["filtered_resps"][0]) for s in samples]
    agg = {k.split(",")[0]: float(v) for k, v in results.items()
           if k.endswith(",none") and not k.split(",")[0].endswith("_stderr")}
    return lls, agg


def perplexities(lls: Sequence[float], texts: Sequence[str]) -> dict[str, float]:
    """lm-eval's word / byte perplexity and bits per byte from per-document log-likelihoods (module docstring)."""
    nll = -sum(lls)
    words = sum(len(re.split(r"\s+", t)) for t in texts)
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    return {"word_perplexity": math.exp(nll / words), "byte_perplexity": math.exp(nll / nbytes),
            "bits_per_byte": nll / nbytes / math.log(2)}


# lm-eval's own zero-shot GLUE tasks (their YAML read from the installed package: its prompt, choices and target),
# pointed at local files instead of the hub: name -> (YAML under lm_eval/tasks, the fields its prompt reads)
MC_TASKS = {"rte": ("glue/rte/default.yaml", ("sentence1", "sentence2")), "sst2": ("glue/sst2/default.yaml", ("sentence",)),
            "mrpc": ("glue/mrpc/default.yaml", ("sentence1", "sentence2")), "cola": ("glue/cola/default.yaml", ("sentence",))}


def lm_eval_task_file(rel: str) -> Path:
    """The YAML of one of lm-eval's own tasks (``rel`` under ``lm_eval/tasks``); a clear error when absent."""
    try:
        import lm_eval
    except ImportError:
        raise RuntimeError("lm-evaluation-harness is not installed: pip install -e '.[llm]' (lm-eval==0.4.13)") from None
    path = Path(lm_eval.__file__).parent / "tasks" / rel
    if not path.is_file():
        raise ValueError(f"lm-eval task file {rel!r} not found under {path.parent.parent} (e.g. {MC_TASKS['sst2'][0]!r})")
    return path


def _mc_yaml(rel: str, name: str, data: Path) -> str:
    import yaml

    spec = yaml.safe_load(lm_eval_task_file(rel).read_text())
    spec = {k: v for k, v in spec.items() if k not in ("tag", "dataset_name", "training_split", "test_split")}
    spec.update(task=name, dataset_path="json", dataset_kwargs={"data_files": {"validation": str(data)}},
                validation_split="validation")
    return yaml.safe_dump(spec, sort_keys=False)


def choice_predictions(model, tokenizer, rel: str, docs: Sequence[dict], *, batch_size: int = 8,
                       device: str | None = None) -> tuple[list[int], list[int], list[float]]:
    """(gold choice, predicted choice, lm-eval's ``acc``) per document, in ``docs`` order, of ``model`` on the
    zero-shot multiple-choice task whose YAML is ``rel`` under ``lm_eval/tasks`` (its prompt and choices; the
    prediction is the choice with the highest summed log-likelihood given the prompt, first on ties as lm-eval)."""
    name = "hpbench_" + re.sub(r"[^a-z0-9]+", "_", rel.lower().removesuffix(".yaml"))
    samples, _ = _run_local_task(model, tokenizer, name, list(docs), lambda data: _mc_yaml(rel, name, data),
                                 batch_size=batch_size, device=device)
    gold = [int(s["target"]) for s in samples]
    pred = [max(range(len(s["filtered_resps"])), key=lambda c, s=s: (float(s["filtered_resps"][c][0]), -c))
            for s in samples]
    return gold, pred, [float(s["acc"]) if "acc" in s else float(p == g) for s, g, p in zip(samples, gold, pred)]


def multiple_choice(model, tokenizer, task: str, docs: Sequence[dict], *, batch_size: int = 8,
                    device: str | None = None) -> list[float]:
    """Per-document accuracy (1.0 / 0.0, in ``docs`` order) of ``model`` on lm-eval's zero-shot ``task`` (a name in
    ``MC_TASKS``: its own prompt and choices) over ``docs``: dicts with the task's fields and an int ``label``."""
    if task not in MC_TASKS:
        raise ValueError(f"unknown zero-shot task {task!r}; available: {sorted(MC_TASKS)}")
    fields = MC_TASKS[task][1] + ("label",)
    bad = next((d for d in docs if any(f not in d for f in fields)), None) if docs else {}
    if bad is not None:
        raise ValueError(f"docs must be a non-empty list of dicts with {list(fields)}; got {bad!r}")
    rows = [{**{f: d[f] for f in fields}, "label": int(d["label"])} for d in docs]
    return choice_predictions(model, tokenizer, MC_TASKS[task][0], rows, batch_size=batch_size, device=device)[2]


# Evaluation of the kinds that go through lm-eval (hpbench.tasks.lm_eval_kinds): kind name -> fn(model, processor, task,
# examples, batch_size) -> (labels, predictions), both per example in ``examples`` order
HARNESSES: Registry[Callable[..., tuple[list, list]]] = Registry("evaluation harness")


def _device_of(model) -> str:
    return str(next(model.parameters()).device)


def _perplexity_predictions(model, tokenizer, task, examples, batch_size: int) -> tuple[list, list]:
    """(words, negative log-likelihood in nats) of each document, lm-eval's rolling log-likelihood; on a CPU one
    document per batch (EWT documents run from 20 to 500+ tokens: padding cost 3x)."""
    texts = [e.text for e in examples]
    dev = _device_of(model)
    lls, _ = rolling_loglikelihoods(model, tokenizer, texts, batch_size=1 if dev == "cpu" else batch_size, device=dev)
    return [len(re.split(r"\s+", t)) for t in texts], [-float(ll) for ll in lls]


def _choice_predictions(model, tokenizer, task, examples, batch_size: int) -> tuple[list, list]:
    """(gold choice, predicted choice) of each example on the lm-eval task named by the spec's ``lm_eval``."""
    opt = task.options["lm_eval"]
    docs = []
    for e in examples:
        doc = {opt["fields"]["text"]: e.text, "label": int(e.label)}
        if "text_pair" in opt["fields"]:
            doc[opt["fields"]["text_pair"]] = e.text_pair
        docs.append(doc)
    gold, pred, _ = choice_predictions(model, tokenizer, opt["task"], docs, batch_size=batch_size, device=_device_of(model))
    if gold != [int(e.label) for e in examples]:
        raise ValueError(f"task {task.name!r}: lm-eval's targets differ from the task's labels (its YAML {opt['task']!r} "
                         "reads another label field or order)")
    return gold, pred


HARNESSES.add("lm_perplexity", _perplexity_predictions)
HARNESSES.add("lm_choice", _choice_predictions)
