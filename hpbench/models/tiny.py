"""Tiny, randomly initialised decoder and ViT models, built locally (no download).

No small pretrained decoder or ViT checkpoint ships in a package registry reachable here (searched PyPI for
tiny-gpt2, distilgpt2, gpt2-weights, tinystories, smollm(2), tinyllama, tiny-llama, picogpt, vit-tiny,
timm-vit-tiny, vit-base-patch16-224: none holds weights), so the language-modelling and image examples run on
these. **They are not pretrained**: the run's fine-tuning step trains them from scratch on the task's
training split. Their results demonstrate the pipeline (and are labelled so in every report); they are no
finding about pruning real models. Users with the hub pass a hub id or a local folder instead
(``TinyLlama/TinyLlama-1.1B-...``, ``google/vit-base-patch16-224``, ``gpt2``).

Each model is built once per configuration (seeded, so identical everywhere) under
``<cache>/tiny/<name>-<hash>``; text models get all-MiniLM-L6-v2's English WordPiece tokenizer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.files import atomic_dir, cache_root, commit_dir, config_hash

TINY_LABEL = "TINY RANDOM INIT"


@dataclass(frozen=True)
class TinySpec:
    model_type: str  # transformers config type (AutoConfig.for_model)
    config: dict[str, Any] = field(default_factory=dict)
    inputs: str = "text"  # "text": a tokenizer is saved beside; "image": an image processor
    description: str = ""


TINY: dict[str, TinySpec] = {
    "tiny-random-llama": TinySpec("llama", {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
                                            "num_attention_heads": 8, "num_key_value_heads": 2,
                                            "max_position_embeddings": 256, "tie_word_embeddings": False},
                                  description="Llama-style decoder, 4 layers x 8 query heads / 2 KV heads (GQA), d 64"),
    "tiny-random-gpt2": TinySpec("gpt2", {"n_embd": 64, "n_layer": 4, "n_head": 4, "n_positions": 256,
                                          "n_inner": 128},
                                 description="GPT-2-style decoder (fused c_attn), 4 layers x 4 heads, d 64"),
    "tiny-random-vit": TinySpec("vit", {"image_size": 16, "patch_size": 4, "num_channels": 3, "hidden_size": 64,
                                        "num_hidden_layers": 4, "num_attention_heads": 8, "intermediate_size": 128},
                                inputs="image", description="ViT, 16x16 images in 4x4 patches, 4 layers x 8 heads, d 64"),
}


def build(name: str, tokenizer: str | None = None, root: Path | None = None) -> Path:
    """The folder of tiny model ``name`` (built on first use; seed 0); text models copy the tokenizer found at
    ``tokenizer`` (a model folder: the registry passes all-MiniLM-L6-v2's)."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    spec = TINY[name]
    import transformers

    final = Path(root or cache_root()) / "tiny" / f"{name}-{config_hash({**spec.config, 'type': spec.model_type, 'tf': transformers.__version__})}"
    if (final / "config.json").is_file():
        return final
    tmp = atomic_dir(final)
    if spec.inputs == "text":
        if tokenizer is None:
            raise ValueError(f"tiny model {name!r} is a text model: pass the folder of the tokenizer to copy")
        tok = AutoTokenizer.from_pretrained(tokenizer)
        cfg = AutoConfig.for_model(spec.model_type, vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                                   bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, **spec.config)
        tok.save_pretrained(tmp)
    else:
        from transformers.utils import logging as hf_logging

        try:  # transformers 5 without torchvision: the PIL processor, named (no fallback warning)
            from transformers import ViTImageProcessorPil as ViTImageProcessor
        except ImportError:
            from transformers import ViTImageProcessor

        cfg = AutoConfig.for_model(spec.model_type, **spec.config)
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            size = spec.config["image_size"]
            ViTImageProcessor(size={"height": size, "width": size}, image_mean=[0.5] * 3,
                              image_std=[0.5] * 3).save_pretrained(tmp)
        finally:
            hf_logging.set_verbosity(verbosity)
    torch.manual_seed(0)
    AutoModel.from_config(cfg).save_pretrained(tmp)
    commit_dir(tmp, final)
    return final


def is_tiny(name: str) -> bool:
    return str(name) in TINY
