"""Encode task examples (tokens, or pixel values) and cut them into padded batches (length-bucketed)."""
from __future__ import annotations

import random
from typing import Callable, Iterator, Sequence

import torch

from .spec import Example, Task


def encode(task: Task, processor, examples: Sequence[Example], max_len: int = 128) -> list[dict]:
    """Model inputs and label of each example, as the task's kind makes them (token ids without padding;
    token tasks label the first sub-word of each word; images: pixel values)."""
    from .kinds import kind_of

    if not examples:
        raise ValueError(f"no examples to encode for task {task.name!r}")
    return kind_of(task).encode(processor, examples, max_len)


def pad_id_of(processor) -> int:
    """The padding token id of a tokenizer (0 when it has none, e.g. GPT-2's, or for an image processor)."""
    return getattr(processor, "pad_token_id", None) or 0


def length(item: dict) -> int:
    """Tokens of an encoded example (what batches are bucketed by; 0 for fixed-size inputs such as images)."""
    return len(item["input_ids"]) if "input_ids" in item else 0


def collate(items: Sequence[dict], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a list of encoded examples to the longest one (tensors, e.g. pixel values, are stacked)."""
    T = max(length(it) for it in items)
    batch: dict[str, torch.Tensor] = {}
    for key in items[0]:
        if isinstance(items[0][key], torch.Tensor):
            batch[key] = torch.stack([it[key] for it in items])
            continue
        if key == "labels":
            if isinstance(items[0]["labels"], list):
                batch["labels"] = torch.tensor([it["labels"] + [-100] * (T - len(it["labels"])) for it in items])
            else:
                dtype = torch.float if isinstance(items[0]["labels"], float) else torch.long
                batch["labels"] = torch.tensor([it["labels"] for it in items], dtype=dtype)
            continue
        fill = pad_id if key == "input_ids" else 0
        batch[key] = torch.tensor([it[key] + [fill] * (T - len(it[key])) for it in items])
    return batch


def batches(encoded: Sequence[dict], batch_size: int, *, shuffle: bool = False, seed: int = 0,
            bucket: bool = True, pad_id: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Padded batches. ``bucket`` sorts by length first so batches carry little padding
    (batch order is shuffled when ``shuffle``)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    order = list(range(len(encoded)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    if bucket:
        order.sort(key=lambda i: length(encoded[i]))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(chunks)
    for c in chunks:
        yield collate([encoded[i] for i in c], pad_id)


def step_batches(encoded: Sequence[dict], batch_size: int, steps: int, pass_seed: Callable[[int], int], *,
                 pad_id: int = 0) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
    """(step, batch) for exactly ``steps`` optimizer steps: shuffled passes over ``encoded``, each pass shuffled with
    ``pass_seed(step it starts at)``; nothing when ``encoded`` is empty."""
    step = 0
    while step < steps and encoded:
        for b in batches(encoded, batch_size, shuffle=True, seed=pass_seed(step), pad_id=pad_id):
            if step >= steps:
                return
            yield step, b
            step += 1


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The batch's model inputs (not its labels) on ``device``."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "labels"}
