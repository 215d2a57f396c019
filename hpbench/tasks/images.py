"""Built-in image and language-modelling tasks.

``digits``: scikit-learn's bundled handwritten digits (UCI optdigits test part, 1,797 8x8 grey images, 10
classes; offline, no download), a fixed seeded 80/20 split, pixels scaled 0..16 -> 0..255. A small labelled
image set for tests and the embedded example; a user's own images come through a task spec
(``kind: image_classification``, ``columns: {image: ..., label: ...}``).
``ud_lm``: next-token perplexity on UD sentences (``builtin/ud_lm.yaml``).
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from .spec import Example, Task, register_task
from .specs import load_task

BUILTIN = Path(__file__).resolve().parent / "builtin"
DIGITS_DEV_FRACTION, DIGITS_SEED = 0.2, 0


def _digits(split: str, *, language: str = "en", root: Path | None = None) -> list[Example]:
    from sklearn.datasets import load_digits

    if split not in ("train", "dev"):
        raise ValueError(f"unknown split {split!r} for task 'digits'; available: train, dev")
    d = load_digits()
    order = list(range(len(d.target)))
    random.Random(DIGITS_SEED).shuffle(order)
    n_dev = int(round(DIGITS_DEV_FRACTION * len(order)))
    idx = sorted(order[:n_dev] if split == "dev" else order[n_dev:])
    return [Example(np.round(d.images[i] * 255 / 16).astype(np.uint8), None, int(d.target[i])) for i in idx]


register_task(Task("digits", "image_classification", 10, ["accuracy"], "accuracy", _digits, [str(i) for i in range(10)],
                   ["en"], "handwritten digits, 8x8 grey (scikit-learn's bundled UCI optdigits; 1,438 train / 359 dev)"))
load_task(BUILTIN / "ud_lm.yaml")
