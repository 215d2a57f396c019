"""``hies_recon``: hpbench's earlier reconstruction of HIES from the paper's abstract only (before its full
text was read; the paper's own definition is ``hies``, :mod:`hpbench.criteria.hies`). Kept because the HIES
grid (``PRESET=hies_grid``) explores its alpha x sign x normalisation space:

    HIES_h = alpha * N(HIS_h) + (1 - alpha) * N(sign * Ent_h)

with N a min-max normalisation to [0, 1] (``norm="global"`` over all heads, or ``"layer"`` within
each layer), HIS the per-layer L2-normalised Michel score and Ent the raw mean attention entropy (nats; not
length-normalised, unlike the paper's AE). Higher = keep.
``entropy_sign=-1`` (default) rewards focused, low-entropy heads (prunes diffuse ones, the same
direction as the ``entropy`` criterion); ``entropy_sign=1`` rewards diffuse, high-entropy heads
(attention diversity). Reports state which setting was used.
"""
from __future__ import annotations

import torch

from .base import ScoringContext, register_criterion
from .masks import layer_l2, minmax


def hies_score(his: torch.Tensor, ent: torch.Tensor, alpha: float = 0.5, norm: str = "global",
               entropy_sign: int = -1) -> torch.Tensor:
    """alpha * N(HIS) + (1 - alpha) * N(sign * entropy); pure function over [L, H] tensors."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"hies_recon: alpha={alpha!r} outside [0, 1]")
    if entropy_sign not in (-1, 1):
        raise ValueError(f"hies_recon: entropy_sign={entropy_sign!r}; allowed: -1 (keep low entropy), 1 (keep high entropy)")
    return alpha * minmax(his, norm) + (1 - alpha) * minmax(entropy_sign * ent, norm)


@register_criterion("hies_recon")
def hies_recon(ctx: ScoringContext, alpha: float = 0.5, norm: str = "global", entropy_sign: int = -1) -> torch.Tensor:
    """alpha * N(HIS) + (1 - alpha) * N(sign * entropy): the abstract-only reconstruction (see module docstring)."""
    st = ctx.stats()
    return hies_score(layer_l2(st.his), st.entropy, alpha, norm, entropy_sign)
