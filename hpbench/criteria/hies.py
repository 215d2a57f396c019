"""HIES, L2 and AD as the HIES paper defines them (Choi, Son, Kim, Kim, arXiv 2510.13832 v2, Feb 2026).

    HIES_h = alpha * HIS^_h + (1 - alpha) * (1 - AE^_h),      alpha in [0, 1)          (Eq. 1)

* HIS_h = E_x |dL(x)/d xi_h| (Eq. 2; the paper's <grad_A L, A> is Michel's gate gradient: scaling a head's
  attention scales its output), raw, not per-layer L2-normalised;
* AE_h = E_x AE_h(x), AE_h(x) = 1 / (n log n) sum_t H(a_t^(h)(x)) over the n non-padding tokens: token-wise
  entropies first, then length-normalised to [0, 1] (:func:`hpbench.criteria.stats.normalised_entropy`);
* ^ = min-max normalisation. The paper does not say over which heads; ``norm="global"`` (default: over all
  heads, the scale the global ranking compares) or ``"layer"`` (within each layer, what its TinyBERT appendix
  calls "layerwise-normalized");
* higher HIES = keep: important, focused (low-entropy) heads stay;
* one pass over a calibration set of ``n_calib`` = 32 examples (the first 32 of the run's seeded scoring
  subset); no retraining;
* ``alpha="auto"``: one alpha chosen from ``ALPHA_GRID`` on ``n_val`` = 128 examples of the held-out validation
  subset of the training split (``ctx.validation``, the one A* uses; never the reported dev set): the alpha whose masks at the paper's
  10 / 30 / 50 % keep the best mean validation metric. The chosen value is recorded (results column ``alpha``).

Baselines of the paper: ``l2`` (the L2 norm of a head's Q/K/V/O weights) and ``ad`` (attention diversity
1 - AE: focused heads kept). ``hies_recon`` is hpbench's earlier abstract-only reconstruction.
"""
from __future__ import annotations

import json

import torch

from ..evaluation.evaluate import evaluate
from ..models.heads import head_weight_norms
from ..tasks.metrics import direction
from .base import ScoringContext, register_criterion
from .masks import keep_from_scores, minmax, n_to_prune

ALPHA_GRID = (0.0, 0.25, 0.5, 0.75, 0.9)
SELECT_AT = (0.1, 0.3, 0.5)  # the paper's compression settings


def hies_paper_score(his: torch.Tensor, ae: torch.Tensor, alpha: float, norm: str = "global") -> torch.Tensor:
    """Eq. 1 over [L, H] tensors: alpha * minmax(HIS) + (1 - alpha) * (1 - minmax(AE))."""
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"hies: alpha={alpha!r} outside [0, 1) (or 'auto')")
    return alpha * minmax(his, norm) + (1 - alpha) * (1 - minmax(ae, norm))


def parse_alpha(alpha) -> float | None:
    """``"auto"`` -> None; a number in [0, 1) -> float; anything else is an error naming the value."""
    if isinstance(alpha, str) and alpha.strip() == "auto":
        return None
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"hies: alpha={alpha!r} is neither 'auto' nor a number in [0, 1)") from None
    if not 0.0 <= a < 1.0:
        raise ValueError(f"hies: alpha={alpha!r} outside [0, 1) (or 'auto')")
    return a


def choose_alpha(ctx: ScoringContext, his: torch.Tensor, ae: torch.Tensor, norm: str, n_val: int | None = None
                 ) -> tuple[float, dict[float, float]]:
    """The alpha of ``ALPHA_GRID`` whose masks at ``SELECT_AT`` keep the best mean main metric on the held-out
    validation subset (its first ``n_val`` examples; heads gated off; gated = pruned, tested). Ties go to the
    first in the grid."""
    if not ctx.validation:
        raise ValueError("hies: alpha='auto' needs a held-out validation subset (ScoringContext.validation); "
                         "the run provides one (n_val); or give a number, e.g. 'hies:alpha=0.5'")
    metric = ctx.task.main_metric
    sign = direction(metric).sign
    val = list(ctx.validation)[:n_val]
    total = his.numel()
    seen: dict[tuple, float] = {}
    value: dict[float, float] = {}
    for a in ALPHA_GRID:
        s = hies_paper_score(his, ae, a, norm)
        vals = []
        for sp in SELECT_AT:
            keep = keep_from_scores(s, n_to_prune(total, sp))
            k = tuple(keep.flatten().tolist())
            if k not in seen:
                seen[k] = evaluate(ctx.model, ctx.task, val, gates=keep.float(), pad_id=ctx.pad_id,
                                   precision=ctx.precision)[metric]
            vals.append(seen[k])
        value[a] = sum(vals) / len(vals)
    best = max(ALPHA_GRID, key=lambda a: (sign * value[a], -ALPHA_GRID.index(a)))
    return best, value


def check_hies(alpha="auto", norm: str = "global", n_calib: int = 32, n_val: int = 128) -> float | None:
    """Raise on a bad ``hies`` parameter (when its spec is parsed, before any work); the alpha (None = auto)."""
    a = parse_alpha(alpha)
    if norm not in ("global", "layer"):
        raise ValueError(f"hies: norm={norm!r}; allowed: 'global', 'layer'")
    for name, v in (("n_calib", n_calib), ("n_val", n_val)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"hies: {name}={v!r} must be a positive integer (the paper calibrates on 32 examples)")
    return a


@register_criterion("hies", check=check_hies)
def hies(ctx: ScoringContext, alpha: str = "auto", norm: str = "global", n_calib: int = 32, n_val: int = 128
         ) -> torch.Tensor:
    """HIES = alpha * HIS^ + (1 - alpha) * (1 - AE^) on ``n_calib`` calibration examples (the paper's Eq. 1;
    module docstring). ``alpha="auto"`` picks alpha on ``n_val`` held-out validation examples and records it."""
    a = check_hies(alpha, norm, n_calib, n_val)
    st = ctx.stats(n_calib)
    if a is None:
        under = None if ctx.keep is None else tuple(torch.as_tensor(ctx.keep).flatten().tolist())
        a, value = ctx.remember(("hies_alpha", norm, n_calib, n_val, under),
                                lambda: choose_alpha(ctx, st.his, st.entropy_norm, norm, n_val))
        ctx.info["alpha_validation"] = json.dumps({str(k): round(v, 6) for k, v in value.items()})
    ctx.info.update({"alpha": a, "n_calib": st.n_examples})
    return hies_paper_score(st.his, st.entropy_norm, a, norm)


@register_criterion("ad")
def ad(ctx: ScoringContext, n_calib: int = 32) -> torch.Tensor:
    """Attention diversity AD_h = 1 - AE_h (length-normalised entropy, HIES paper's baseline): focused heads kept."""
    if isinstance(n_calib, bool) or not isinstance(n_calib, int) or n_calib < 1:
        raise ValueError(f"ad: n_calib={n_calib!r} must be a positive integer")
    return 1 - ctx.stats(n_calib).entropy_norm


@register_criterion("l2", rescoring=False)
def l2(ctx: ScoringContext) -> torch.Tensor:
    """Weight magnitude: the L2 norm of a head's Q, K, V rows and O columns together (HIES paper's baseline)."""
    return head_weight_norms(ctx.model)
