"""Tokenise task examples and cut them into padded batches (length-bucketed for inference)."""
from __future__ import annotations

import random
from typing import Iterator, Sequence

import torch

from .spec import Example, Task


def encode(task: Task, tokenizer, examples: Sequence[Example], max_len: int = 128) -> list[dict]:
    """Token ids (no padding) and label of each example. Token tasks label the first subword of each
    word and put -100 on the other subwords and special tokens."""
    if not examples:
        raise ValueError(f"no examples to encode for task {task.name!r}")
    if task.kind == "token":
        enc = tokenizer([e.text for e in examples], is_split_into_words=True, truncation=True, max_length=max_len)
        out = []
        for i, e in enumerate(examples):
            words = enc.word_ids(i)
            labels, prev = [], None
            for w in words:
                labels.append(-100 if w is None or w == prev else int(e.label[w]))
                prev = w
            item = {k: enc[k][i] for k in enc.keys()}
            item["labels"] = labels
            out.append(item)
        return out
    texts = [e.text for e in examples]
    pairs = [e.text_pair for e in examples] if examples[0].text_pair is not None else None
    enc = tokenizer(texts, pairs, truncation=True, max_length=max_len)
    out = []
    for i, e in enumerate(examples):
        item = {k: enc[k][i] for k in enc.keys()}
        item["labels"] = e.label
        out.append(item)
    return out


def collate(items: Sequence[dict], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a list of encoded examples to the longest one."""
    T = max(len(it["input_ids"]) for it in items)
    batch: dict[str, torch.Tensor] = {}
    for key in items[0]:
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
        order.sort(key=lambda i: len(encoded[i]["input_ids"]))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(chunks)
    for c in chunks:
        yield collate([encoded[i] for i in c], pad_id)


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The batch's model inputs (not its labels) on ``device``."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "labels"}
