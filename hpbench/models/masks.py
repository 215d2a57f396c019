"""The one mask encoding and its conversions at the edges.

Everywhere in the API a head mask is a ``[layers, heads]`` bool tensor, ``True`` = head kept.
Where a mask must be text (the result store, cache keys, the ``mask`` column of the masks table) it is
a *key*: the 0/1 string of the flattened mask, row-major ("1" kept, "0" pruned). These functions are
the only conversions between the two.
"""
from __future__ import annotations

import torch


def mask_to_key(keep: torch.Tensor) -> str:
    """``[L, H]`` keep mask -> 0/1 string (row-major)."""
    return "".join("1" if k else "0" for k in torch.as_tensor(keep).flatten().tolist())


def mask_from_key(key: str, shape: tuple[int, int]) -> torch.Tensor:
    """0/1 string -> ``[L, H]`` bool keep mask (inverse of :func:`mask_to_key`)."""
    if len(key) != shape[0] * shape[1] or set(key) - {"0", "1"}:
        raise ValueError(f"mask key of length {len(key)} with characters {sorted(set(key))} does not fit shape {shape}")
    return torch.tensor([c == "1" for c in key]).view(shape)


def pruned_of_key(key: str) -> frozenset[int]:
    """Flat ids (layer * heads + head) of the heads a key prunes."""
    return frozenset(i for i, c in enumerate(key) if c == "0")


def n_pruned_of_key(key: str) -> int:
    return key.count("0")
