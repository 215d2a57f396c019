"""Task kinds evaluated through EleutherAI's lm-evaluation-harness, as LLM-pruning papers evaluate (LLM-Pruner, FLAP,
SliceGPT, Wanda): the pruned causal LM is passed to lm-eval as an object, over the task's local dev files, and every
document's result is kept, so bootstrap intervals and paired tests work on decoders as on encoders.

* ``lm_perplexity``: lm-eval's rolling log-likelihood of each document (``loglikelihood_rolling``); per document
  y = its words (whitespace-separated pieces, lm-eval's count), p = its negative log-likelihood (nats); metric
  ``word_perplexity`` = exp(Σ p / Σ y) (lm-eval's ``word_perplexity``), **lower is better**.
* ``lm_choice``: one of lm-eval's own zero-shot multiple-choice tasks (its YAML: prompt, choices, target), named in
  the spec's ``lm_eval: {task: <YAML under lm_eval/tasks>, fields: {text: ..., text_pair: ...}}``; y = the gold
  choice, p = the choice with the highest log-likelihood (lm-eval's ``acc`` is their agreement). Its baseline is
  the majority class: a model at chance is reported as such.

Criteria score heads with the causal LM loss on the scoring split (``lm_choice``: the text fields joined, no prompt).
Both kinds take ``epochs: 0``: the pretrained model is evaluated as it is (zero-shot). The lm-eval calls themselves are
the evaluation stage's (:mod:`hpbench.evaluation.lm_harness`, ``HARNESSES``). Needs the ``llm`` extra.
"""
from __future__ import annotations

from typing import Any

from .example import Example
from .kinds import KINDS, CausalLM, Row, TaskKind


class LmPerplexity(CausalLM):
    """Documents scored by lm-eval's rolling log-likelihood (word perplexity)."""

    default_metrics = ("word_perplexity",)
    harness = True


class LmChoice(CausalLM):
    """lm-eval's own zero-shot multiple-choice task over the task's dev examples (accuracy and friends)."""

    default_metrics = ("accuracy",)
    needs_labels = True
    roles = ("text", "label")
    harness = True

    def options(self, spec: dict, where: str) -> dict[str, Any]:
        from .specs import SpecError

        opt = spec.get("lm_eval")
        if not isinstance(opt, dict) or not isinstance(opt.get("task"), str) or not isinstance(opt.get("fields"), dict):
            raise SpecError(f"task spec {where}: lm_eval: lm_choice tasks need {{task: <lm-eval YAML under lm_eval/tasks, "
                            f"e.g. glue/sst2/default.yaml>, fields: {{text: <field its prompt reads>}}}}; got {opt!r}")
        unknown = sorted(set(opt["fields"]) - {"text", "text_pair"})
        if unknown or "text" not in opt["fields"]:
            raise SpecError(f"task spec {where}: lm_eval.fields: roles {sorted(opt['fields'])}; allowed: text (required), "
                            "text_pair")
        return {"lm_eval": {"task": opt["task"], "fields": dict(opt["fields"])}}

    def example(self, row: dict, r: Row) -> Example:
        return TaskKind.example(self, row, r)

    def encode(self, processor, examples, max_len):
        """The scoring text (fields joined, no prompt) as a causal LM sees it."""
        joined = [Example(e.text if e.text_pair is None else f"{e.text} {e.text_pair}") for e in examples]
        return CausalLM.encode(self, processor, joined, max_len)

    def predict(self, logits, labels):
        raise NotImplementedError("lm_choice tasks are evaluated through lm-eval only (harness_predict); a mask search "
                                  "that evaluates candidates on validation batches cannot run on them")

    def score(self, task, ys, ps):
        return TaskKind.score(self, task, ys, ps)

    def baseline(self, task, examples):
        return TaskKind.baseline(self, task, examples)

    def unpack(self, pred, label):
        return TaskKind.unpack(self, pred, label)


KINDS.add("lm_perplexity", LmPerplexity())
KINDS.add("lm_choice", LmChoice())
