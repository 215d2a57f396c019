"""Models: where weights come from (``registry``, ``convert_e5``), how heads are gated and pruned
(``heads``) and what a pruned model costs (``flops``)."""
from . import architectures  # noqa: F401 - registers every architecture record (before any lookup)
from .heads import HeadGates, from_pretrained, gated, mask_from_key, mask_to_key, prune_heads, save_pretrained
from .registry import list_models, load, model_fingerprint, register_model, resolve_model

__all__ = ["HeadGates", "from_pretrained", "save_pretrained", "gated", "mask_from_key", "mask_to_key", "prune_heads", "list_models", "load",
           "model_fingerprint", "register_model", "resolve_model"]
