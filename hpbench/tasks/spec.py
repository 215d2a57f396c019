"""What a task is: examples, label space, loss, metrics, and the registry of tasks.

``list_tasks()`` gives the registered names; :mod:`hpbench.tasks.glue` and
:mod:`hpbench.tasks.multilingual` register the built-in ones.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..core.registry import Registry
from .datadir import data_dir
from .example import Example
from .kinds import kind_of


@dataclass
class Task:
    name: str
    kind: str  # a name in hpbench.tasks.kinds.KINDS: classification, regression, token, causal_lm, image_classification
    num_labels: int
    metrics: list[str]
    main_metric: str
    loader: Callable[..., list[Example]]
    label_names: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=lambda: ["en"])
    description: str = ""
    # languages found in the data rather than listed (e.g. any UD treebank): fn(language, data dir) raising on a bad one
    language_check: Callable[[str, Path | None], None] | None = None
    # what a kind reads from the spec beyond the common fields (``lm_choice``: the lm-eval task and its fields)
    options: dict[str, Any] = field(default_factory=dict)

    def check_language(self, language: str, data_root: str | Path | None = None) -> None:
        """A ``ValueError`` naming ``language`` and what is available, if this task has no such language."""
        if self.language_check is not None:
            self.language_check(language, data_dir(data_root))
        elif language not in self.languages:
            raise ValueError(f"unknown language {language!r} for task {self.name!r}; available: {', '.join(self.languages)}")

    def load(self, split: str, *, language: str = "en", n: int | None = None, seed: int = 0,
             data_root: str | Path | None = None) -> list[Example]:
        """Examples of ``split`` (a fixed random subset of ``n`` when given)."""
        self.check_language(language, data_root)
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n <= 0):
            raise ValueError(f"subset size n must be a positive integer or None, got {n!r}")
        exs = self.loader(split, language=language, root=data_dir(data_root))
        return [exs[i] for i in sample_indices(len(exs), n, seed)]

    def loss_per_example(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Loss of each example, shape [B], as the task's kind defines it (:mod:`hpbench.tasks.kinds`)."""
        return kind_of(self).loss_per_example(logits, labels)


def sample_indices(total: int, n: int | None, seed: int) -> list[int]:
    """The fixed subset ``Task.load(..., n=n, seed=seed)`` takes of a split of ``total`` examples (sorted
    indices; all of them when ``n`` is None or not smaller). Anything that must know which examples a
    subset used (e.g. a validation set disjoint from fine-tuning data) calls this."""
    if n is None or n >= total:
        return list(range(total))
    return sorted(random.Random(seed).sample(range(total), n))


def examples_digest(examples: list[Example]) -> str:
    """Content hash of examples (texts, pairs, labels, in order): what cache keys use to know the data."""
    import hashlib
    import json

    def content(v):  # images: their pixels' hash (a json list of every pixel would be slow)
        if hasattr(v, "tobytes"):
            return [list(v.shape), str(v.dtype), hashlib.sha256(v.tobytes()).hexdigest()]
        return v

    blob = json.dumps([[content(e.text), e.text_pair, e.label] for e in examples], ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


TASKS: Registry[Task] = Registry("task")


def register_task(task: Task, *, overwrite: bool = False) -> Task:
    return TASKS.add(task.name, task, overwrite=overwrite)


def list_tasks() -> list[str]:
    return TASKS.names()


