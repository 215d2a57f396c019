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
import math
import re
import tempfile
from pathlib import Path
from typing import Sequence

TASK = "hpbench_rolling_ppl"


def _task_yaml(data: Path) -> str:
    return (f"task: {TASK}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
            "test_split: test\noutput_type: loglikelihood_rolling\ndoc_to_text: \"\"\ndoc_to_target: text\n"
            "should_decontaminate: false\nmetric_list:\n  - metric: word_perplexity\n  - metric: byte_perplexity\n"
            "  - metric: bits_per_byte\n")


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
    with tempfile.TemporaryDirectory(prefix="hpbench-lm-eval-") as tmp:
        data = Path(tmp) / "docs.jsonl"
        data.write_text("".join(json.dumps({**row, "i": i}) + "\n" for i, row in enumerate(rows)))
        (Path(tmp) / f"{task}.yaml").write_text(task_yaml(data))
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=dev)
        out = simple_evaluate(model=lm, tasks=[task], task_manager=TaskManager(include_path=tmp), log_samples=True,
                              verbosity="ERROR")
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
# pointed at local files instead of the hub
MC_TASKS = {"rte": ("glue/rte/default.yaml", ("sentence1", "sentence2")), "sst2": ("glue/sst2/default.yaml", ("sentence",))}


def _mc_yaml(name: str, data: Path) -> str:
    import lm_eval
    import yaml

    rel, _ = MC_TASKS[name]
    spec = yaml.safe_load((Path(lm_eval.__file__).parent / "tasks" / rel).read_text())
    spec = {k: v for k, v in spec.items() if k not in ("tag", "dataset_name", "training_split")}
    spec.update(task=f"hpbench_{name}", dataset_path="json", dataset_kwargs={"data_files": {"validation": str(data)}},
                validation_split="validation")
    return yaml.safe_dump(spec, sort_keys=False)


def multiple_choice(model, tokenizer, task: str, docs: Sequence[dict], *, batch_size: int = 8,
                    device: str | None = None) -> list[float]:
    """Per-document accuracy (1.0 / 0.0, in ``docs`` order) of ``model`` on lm-eval's zero-shot ``task`` ("rte",
    "sst2": its own prompt and choices; the answer is the choice with the highest summed log-likelihood given the
    prompt), over ``docs``: dicts with the task's fields and an int ``label``."""
    if task not in MC_TASKS:
        raise ValueError(f"unknown zero-shot task {task!r}; available: {sorted(MC_TASKS)}")
    fields = MC_TASKS[task][1] + ("label",)
    bad = next((d for d in docs if any(f not in d for f in fields)), None) if docs else {}
    if bad is not None:
        raise ValueError(f"docs must be a non-empty list of dicts with {list(fields)}; got {bad!r}")
    rows = [{**{f: d[f] for f in fields}, "label": int(d["label"])} for d in docs]
    samples, _ = _run_local_task(model, tokenizer, f"hpbench_{task}", rows, lambda data: _mc_yaml(task, data),
                                 batch_size=batch_size, device=device)
    return [float(s["acc"]) for s in samples]
