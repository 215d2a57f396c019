"""Task kinds: how a kind of task reads a data row, feeds the model and scores its output.

A :class:`TaskKind` is looked up by ``Task.kind`` in the ``KINDS`` registry (add one with
``KINDS.add(name, MyKind())``). Built in:

* ``classification`` / ``regression`` (sequence or sentence-pair heads; GLUE),
* ``token`` (one label per word, first sub-word labelled; NER, POS),
* ``causal_lm``: next-token cross-entropy over a text column; per example the prediction is its summed
  negative log-likelihood (nats) and its "label" the number of predicted tokens, so the metric
  ``perplexity = exp(sum NLL / sum tokens)`` is a function of per-example sums (bootstrap, paired tests),
* ``image_classification``: pixel values from an image column (an image processor instead of a tokenizer).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..core.registry import Registry
from .datadir import DataError
from .example import Example

@dataclass
class Row:
    """Where a data row came from, for a kind to read it: the spec's ``columns`` (role -> column), the spec,
    ``label_of`` (raw label -> class id, raising a DataError that names the row), the row's location ``at``,
    the spec's name for messages ``where`` and its folder ``base`` (relative image paths)."""

    cols: dict
    spec: dict
    label_of: Callable[[Any], int]
    at: str
    where: str
    base: Path | None = None


class TaskKind:
    """The classification behaviour; other kinds override what differs."""

    model_class = "AutoModelForSequenceClassification"  # the transformers Auto class the model is loaded with
    default_metrics: tuple[str, ...] = ("accuracy",)
    needs_labels = True  # a spec must list label names
    roles: tuple[str, ...] = ("text", "label")  # the spec's required ``columns`` (text_pair optional)
    # how examples become inputs; a new version changes the keys of checkpoints and scores made from its encodings
    encoding_version = 1
    zero_shot = False  # whether the pretrained model's own head answers the task (``epochs: 0`` allowed)
    # whether evaluation goes through an external harness (hpbench.evaluation.lm_harness.HARNESSES[kind name]) on
    # the dev examples themselves instead of the model's batched forward
    harness = False

    def options(self, spec: dict, where: str) -> dict[str, Any]:
        """What this kind reads from its task spec beyond the common fields (kept as ``Task.options``); raise a
        ``SpecError`` naming the field for a bad value. None by default."""
        return {}

    def model_kwargs(self, task) -> dict[str, Any]:
        return {"num_labels": task.num_labels}

    def load_processor(self, path: str):
        """What turns examples into model inputs (a tokenizer; an image processor for images)."""
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(path)

    def example(self, row: dict, r: Row) -> Example:
        """The :class:`Example` of one data row."""
        pair = r.cols.get("text_pair")
        return Example(str(row[r.cols["text"]]).strip(), str(row[pair]).strip() if pair else None,
                       r.label_of(row[r.cols["label"]]))

    def encode(self, processor, examples: Sequence[Example], max_len: int) -> list[dict]:
        texts = [e.text for e in examples]
        pairs = [e.text_pair for e in examples] if examples[0].text_pair is not None else None
        enc = processor(texts, pairs, truncation=True, max_length=max_len)
        return [{**{k: enc[k][i] for k in enc.keys()}, "labels": e.label} for i, e in enumerate(examples)]

    def loss_per_example(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Loss of each example, shape [B]: cross-entropy."""
        return F.cross_entropy(logits, labels, reduction="none")

    def predict(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The batch's predictions, on the model's device (one transfer per evaluation, at its end)."""
        return logits.argmax(-1)

    def unpack(self, pred: torch.Tensor, label: torch.Tensor) -> tuple[Any, Any]:
        """(y, p) of one example, as stored in the predictions table and passed to the metrics."""
        return label.item(), pred.item()

    def score(self, task, ys: list, ps: list) -> dict[str, float]:
        from . import metrics as M

        return M.compute(task.metrics, ys, ps)

    def baseline(self, task, examples: Sequence[Example]) -> dict[str, float]:
        """The metrics of a model that learned nothing (majority class); {} when there is no such reference."""
        from . import metrics as M

        ys = [e.label for e in examples]
        top = Counter(ys).most_common(1)[0][0]
        return M.compute(task.metrics, ys, [top] * len(ys))


class Regression(TaskKind):
    default_metrics = ("pearson", "spearman")
    needs_labels = False

    def model_kwargs(self, task) -> dict[str, Any]:
        return {"num_labels": 1}

    def example(self, row: dict, r: Row) -> Example:
        try:
            y = float(row[r.cols["label"]])
        except (TypeError, ValueError):
            raise DataError(f"{r.at}: label {row[r.cols['label']]!r} is not a number (task spec {r.where})") from None
        lo, hi = r.spec.get("label_range", [float("-inf"), float("inf")])
        if not lo <= y <= hi:
            raise DataError(f"{r.at}: score {y} outside [{lo}, {hi}] (task spec {r.where}: label_range)")
        pair = r.cols.get("text_pair")
        return Example(str(row[r.cols["text"]]).strip(), str(row[pair]).strip() if pair else None, y)

    def loss_per_example(self, logits, labels):
        """Squared error of the single output."""
        return (logits.squeeze(-1) - labels.float()) ** 2

    def predict(self, logits, labels):
        return logits.squeeze(-1)

    def baseline(self, task, examples):
        return {}


BARE_MARKERS = ("\u2581", "\u0120")  # a sentencepiece / byte-level BPE word boundary standing alone as a piece


class Token(TaskKind):
    model_class = "AutoModelForTokenClassification"
    roles = ("tokens", "tags")
    # 2: a word's label sits on its first piece that is not a bare boundary marker (sentencepiece splits a Chinese
    # word into "▁" + the word: version 1 labelled the "▁", the same input for every word; zero-shot Chinese POS 0.19)
    encoding_version = 2

    def example(self, row: dict, r: Row) -> Example:
        from .conll import to_iob2

        tokens, tags = list(row[r.cols.get("tokens", "tokens")]), [str(t) for t in row[r.cols.get("tags", "tags")]]
        scheme = r.spec.get("tags") or {}
        if scheme.get("scheme") == "iob2":  # IOB1/IOB2 -> IOB2, entity types renamed
            try:
                tags = to_iob2(tags, scheme.get("rename"))
            except ValueError as e:
                raise DataError(f"{r.at}: {e} (task spec {r.where}: tags)") from None
        return Example([str(t) for t in tokens], None, [r.label_of(t) for t in tags])

    def encode(self, processor, examples, max_len):
        """Label each word's first sub-word that is not a bare boundary marker (its first sub-word when all are);
        -100 on the other sub-words and special tokens."""
        enc = processor([e.text for e in examples], is_split_into_words=True, truncation=True, max_length=max_len)
        out = []
        for i, e in enumerate(examples):
            words = enc.word_ids(i)
            pieces = processor.convert_ids_to_tokens(enc["input_ids"][i])
            spans: dict[int, list[int]] = {}  # word -> its positions
            for pos, w in enumerate(words):
                if w is not None:
                    spans.setdefault(w, []).append(pos)
            labels = [-100] * len(words)
            for w, ps in spans.items():
                labels[next((q for q in ps if pieces[q] not in BARE_MARKERS), ps[0])] = int(e.label[w])
            out.append({**{k: enc[k][i] for k in enc.keys()}, "labels": labels})
        return out

    def loss_per_example(self, logits, labels):
        """Mean cross-entropy over the labelled tokens of each sentence."""
        ce = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none", ignore_index=-100)
        return ce.sum(1) / (labels != -100).sum(1).clamp(min=1)

    def unpack(self, pred, label):
        keep = label != -100
        return label[keep].tolist(), pred[keep].tolist()

    def score(self, task, ys, ps):
        """seqeval F1 on tag names; every other metric over all labelled tokens."""
        from . import metrics as M

        out, others = {}, list(task.metrics)
        if "seqeval_f1" in others:
            names = task.label_names
            out["seqeval_f1"] = M.seqeval_f1([[names[t] for t in y] for y in ys], [[names[t] for t in p] for p in ps])
            others.remove("seqeval_f1")
        flat = lambda v: np.concatenate([np.asarray(s, dtype=int) for s in v]) if v else np.array([])  # noqa: E731
        out.update(M.compute(others, flat(ys), flat(ps)))
        return out

    def baseline(self, task, examples):
        return {}


class CausalLM(TaskKind):
    """Next-token prediction over a text column (decoders: GPT-2, Llama, Qwen2, Mistral)."""

    model_class = "AutoModelForCausalLM"
    default_metrics = ("perplexity",)
    needs_labels = False
    roles = ("text",)
    zero_shot = True

    def model_kwargs(self, task):
        return {}

    def example(self, row: dict, r: Row) -> Example:
        v = row[r.cols["text"]]
        text = " ".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else str(v).strip()
        if not text:
            raise DataError(f"{r.at}: empty text in column {r.cols['text']!r} (task spec {r.where})")
        return Example(text)

    def encode(self, processor, examples, max_len):
        """Token ids; the labels are the ids themselves (shifted in the loss), padding -100."""
        enc = processor([e.text for e in examples], truncation=True, max_length=max_len)
        return [{**{k: enc[k][i] for k in enc.keys()}, "labels": list(enc["input_ids"][i])} for i in range(len(examples))]

    @staticmethod
    def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """([B] summed NLL of tokens 2..T given their prefixes, [B] number of such tokens)."""
        target = labels[:, 1:]
        ce = F.cross_entropy(logits[:, :-1].transpose(1, 2), target, reduction="none", ignore_index=-100)
        return ce.sum(1), (target != -100).sum(1)

    def loss_per_example(self, logits, labels):
        """Mean next-token cross-entropy of each text (nats per token)."""
        nll, n = self.token_nll(logits, labels)
        return nll / n.clamp(min=1)

    def predict(self, logits, labels):
        nll, n = self.token_nll(logits.float(), labels)
        return torch.stack([nll.double(), n.double()], 1)

    def unpack(self, pred, label):
        return int(pred[1].item()), float(pred[0].item())  # (tokens, summed NLL)

    def baseline(self, task, examples):
        return {}


class ImageClassification(TaskKind):
    """Labels of images (ViT): pixel values from an image column through the model's image processor."""

    model_class = "AutoModelForImageClassification"
    roles = ("image", "label")

    def load_processor(self, path):
        from transformers import AutoImageProcessor
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "requires torchvision ... falling back to the PIL processor"
        try:
            return AutoImageProcessor.from_pretrained(path)
        finally:
            hf_logging.set_verbosity(verbosity)

    def example(self, row: dict, r: Row) -> Example:
        return Example(read_image(row[r.cols["image"]], r.base, r.at), None, r.label_of(row[r.cols["label"]]))

    def encode(self, processor, examples, max_len):
        px = processor(images=[rgb(e.text) for e in examples], return_tensors="pt")["pixel_values"]
        return [{"pixel_values": px[i], "labels": e.label} for i, e in enumerate(examples)]


def rgb(image) -> np.ndarray:
    """An image as an ``[H, W, 3]`` uint8 array (grey images repeated over the channels)."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, 2)
    if a.shape[-1] == 4:
        a = a[..., :3]
    return a


def read_image(value, base: Path | None, at: str) -> np.ndarray:
    """A data row's image: a file path (relative to the spec file), ``{"bytes": ...}`` (datasets' Image column
    in Parquet), a PIL image or a nested list / array of pixels."""
    from io import BytesIO

    from PIL import Image

    try:
        if isinstance(value, (str, Path)):
            p = Path(value)
            p = p if p.is_absolute() or base is None else base / p
            if not p.is_file():
                raise DataError(f"{at}: image file {str(p)!r} not found")
            return np.asarray(Image.open(p).convert("RGB"))
        if isinstance(value, dict) and value.get("bytes") is not None:
            return np.asarray(Image.open(BytesIO(value["bytes"])).convert("RGB"))
        if isinstance(value, Image.Image):
            return np.asarray(value.convert("RGB"))
        a = np.asarray(value)
        if a.ndim not in (2, 3):
            raise DataError(f"{at}: image of shape {a.shape}; expected [H, W] or [H, W, C]")
        return a
    except DataError:
        raise
    except Exception as e:  # PIL's own errors name no row
        raise DataError(f"{at}: unreadable image ({type(e).__name__}: {e})") from None


KINDS: Registry[TaskKind] = Registry("task kind")
KINDS.add("classification", TaskKind())
KINDS.add("regression", Regression())
KINDS.add("token", Token())
KINDS.add("causal_lm", CausalLM())
KINDS.add("image_classification", ImageClassification())


def kind_of(task) -> TaskKind:
    return KINDS.get(task.kind)


def encoding_key(task) -> dict[str, int]:
    """What cache keys add for the task's encoding: {} at version 1 (keys made before versions stay valid)."""
    v = kind_of(task).encoding_version
    return {} if v == 1 else {"encoding": v}


def majority_baseline(task, examples: Sequence[Example]) -> dict[str, float]:
    """The task's metrics for a model that learned nothing: always the most frequent label (classification);
    {} for kinds without such a reference. An unpruned model that does not beat this has learned nothing worth
    pruning."""
    return kind_of(task).baseline(task, examples)
