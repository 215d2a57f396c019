"""One record per model family: everything hpbench knows about an architecture, in one file of this folder.

An :class:`Architecture` names the ``config.model_type`` values it covers and gives

* ``attention``: where the heads are and how to gate, prune and count them (an
  :class:`~hpbench.models.adapters.AttentionAdapter`: Q/K/V/O projections, the GQA layout, the FLOPs shape);
* ``ffn``: where the FFN neurons are (:class:`~hpbench.models.ffn.FFNMap`; None: heads only);
* ``out_bias_flag``: the config field that declares an output-projection bias (what FLAP's compensation adds;
  Llama's ``attention_bias``), or None when the config cannot declare one (a pruned model with such a bias then
  saves in hpbench's format only);
* ``post_norm``: each layer is post-LN (``x' = LN(x + Attn(x))``, ``y = LN(x' + FFN(x'))``): the attention's residual
  is the layer's input and the FFN's residual is the FFN's own input, which is what Kwon et al.'s released mask
  tuning (:mod:`hpbench.recovery.rescale`) fits against (BERT, RoBERTa and the other post-LN encoders);
* ``tiny``: a tiny random configuration for the shared adapter tests (never for reported results).

Adding an architecture is one file here plus nothing else: the shared test matrix (``tests/models/test_adapters.py``)
runs every registered record's tiny model through gated == pruned == reloaded, HIS = finite differences, entropy
and FLOPs by hand. A plugin may register one the same way (:func:`register_architecture`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...core.registry import Registry
from ..adapters import ADAPTERS, AttentionAdapter, unsupported
from ..ffn import FFN_MAPS, FFNMap


@dataclass(frozen=True)
class TinyConfig:
    """A tiny random model for tests: ``transformers.<config>(**kwargs)`` built as ``transformers.<model>``; inputs are
    token ids (``"text"``) or 16 x 16 images (``"image"``)."""

    config: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    inputs: str = "text"
    attention: tuple[str, ...] = ("eager", "sdpa")  # attention implementations transformers has for it


@dataclass(frozen=True)
class Architecture:
    """See the module docstring."""

    name: str
    model_types: tuple[str, ...]
    attention: AttentionAdapter
    ffn: FFNMap | None = None
    out_bias_flag: str | None = None
    post_norm: bool = False
    tiny: TinyConfig | None = None
    description: str = ""


ARCHITECTURES: Registry[Architecture] = Registry("architecture (config.model_type)")
FAMILIES: Registry[Architecture] = Registry("architecture family")


def register_architecture(arch: Architecture) -> Architecture:
    """Register ``arch`` under its family name and each of its model types (a taken name is an error), and its
    attention adapter and FFN map where the machinery looks them up."""
    FAMILIES.add(arch.name, arch)
    for mt in arch.model_types:
        ARCHITECTURES.add(mt, arch)
        ADAPTERS.add(mt, arch.attention)
        if arch.ffn is not None:
            FFN_MAPS.add(mt, arch.ffn)
    return arch


def architecture_for(model_or_config) -> Architecture:
    """The record of a model (or config) by ``config.model_type``; an unsupported type is an error naming it and
    listing the supported ones."""
    mt = getattr(getattr(model_or_config, "config", model_or_config), "model_type", None)
    if mt not in ARCHITECTURES:
        raise unsupported(model_or_config, ARCHITECTURES.names())
    return ARCHITECTURES.get(mt)
