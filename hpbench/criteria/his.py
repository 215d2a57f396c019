"""HIS: gradient head importance (Michel, Levy, Neubig 2019, "Are Sixteen Heads Really Better than One?")."""
from __future__ import annotations

import torch

from .base import ScoringContext, register_criterion
from .masks import layer_l2


@register_criterion("his")
def his(ctx: ScoringContext, normalize: bool = True, estimator: str = "per_example") -> torch.Tensor:
    """Head importance I_h = E_x |dL(x)/d xi_h| at xi = 1, optionally L2-normalised per layer.

    ``estimator="per_example"`` takes |.| per example (the paper's E_x|.|; the bertology script with
    batch size 1); ``"batch"`` takes |gradient of the batch's mean loss| (bertology with larger batches).
    ``normalize`` divides each layer's scores by their L2 norm (the paper's default).
    """
    st = ctx.stats()
    if estimator == "per_example":
        s = st.his
    elif estimator == "batch":
        s = st.his_batch
    else:
        raise ValueError(f"his: unknown estimator {estimator!r}; allowed: 'per_example', 'batch'")
    return layer_l2(s) if normalize else s


@register_criterion("fisher")
def fisher(ctx: ScoringContext) -> torch.Tensor:
    """Diagonal Fisher information of each head's gate, E_x (dL(x)/d xi_h)^2 at xi = 1 (Kwon et al. 2022's head
    score before its mask search), from the same per-example gate gradients as HIS (no extra pass)."""
    return ctx.stats().fisher
