"""Built-in tasks evaluated through lm-evaluation-harness (``hpbench/tasks/builtin/``): ``ewt_ppl`` (word perplexity
on UD English-EWT documents) and ``lm_sst2``, ``lm_rte``, ``lm_mrpc``, ``lm_cola`` (lm-eval's own zero-shot GLUE
prompts over the local GLUE files). Kinds in :mod:`hpbench.tasks.lm_eval_kinds`."""
from __future__ import annotations

from pathlib import Path

from .specs import load_task

BUILTIN = Path(__file__).resolve().parent / "builtin"
LM_TASKS = ["ewt_ppl", "lm_sst2", "lm_rte", "lm_mrpc", "lm_cola"]

for _name in LM_TASKS:
    load_task(BUILTIN / f"{_name}.yaml")
