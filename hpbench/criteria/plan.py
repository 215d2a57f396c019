"""The pruning plan: what every criterion gives for one level and everything downstream consumes.

A plan says which heads stay (``keep``, ``[L, H]``), optionally which FFN neurons stay (``ffn_keep``, ``[L, N]``: the
level was searched under a FLOPs budget, Kwon et al. 2022), and optionally the weights that go with it (``weights``:
a model trained or compensated together with this mask: DSP joint, L0's trained gates, Kwon's mask-tuned scales,
FLAP's bias compensation); without weights the plan applies to the fine-tuned model. ``costs`` are this level's own
costs (training steps, seconds) and add up over levels; ``info`` holds scalars shared by all levels (a chosen alpha);
``within_bound`` is a bounded search's verdict (A*). Strategies (one-shot ranking, iterative re-scoring, searches,
structured units: :mod:`hpbench.criteria.strategies`) produce plans; the run stores a plan as its :meth:`record` and
evaluates it through :func:`pruned_by` (physically pruned; :func:`gated_by` gates the same plan instead), without
knowing which criterion made it.

A criterion with its own weights or neurons is therefore one file: its ``mask_fn`` returns
``PruningPlan(keep, weights=..., ffn_keep=..., costs={...})`` and nothing else changes.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

BUDGETS = ("heads", "flops")


@dataclass(init=False)
class PruningPlan:
    """See the module docstring. ``PruningPlan(keep, weights, info, within_bound, ffn_keep, costs=...)``; ``model=`` is
    accepted for ``weights`` (the name of hpbench < 0.6's ``MaskResult``)."""

    keep: torch.Tensor
    weights: Any
    info: dict[str, Any]
    within_bound: bool | None
    ffn_keep: torch.Tensor | None
    costs: dict[str, float]

    def __init__(self, keep, weights: Any = None, info: dict | None = None, within_bound: bool | None = None,
                 ffn_keep: torch.Tensor | None = None, costs: dict | None = None, *, model: Any = None) -> None:
        if weights is not None and model is not None:
            raise TypeError("give the plan's weights once: weights= or model=, not both")
        self.keep = torch.as_tensor(keep)
        self.weights = weights if weights is not None else model
        self.info = dict(info or {})
        self.within_bound = within_bound
        self.ffn_keep = None if ffn_keep is None else torch.as_tensor(ffn_keep)
        self.costs = dict(costs or {})

    @property
    def model(self) -> Any:  # hpbench < 0.6 name
        return self.weights

    @model.setter
    def model(self, value: Any) -> None:
        self.weights = value

    @property
    def budget(self) -> str:
        """``"flops"`` when the plan prunes FFN neurons too (searched under a FLOPs budget), else ``"heads"``."""
        return "heads" if self.ffn_keep is None else "flops"

    @property
    def n_pruned(self) -> int:
        return int((~self.keep.bool()).sum())

    def record(self) -> dict[str, Any]:
        """The plan as stored (JSON): mask keys, whether it carries its own weights, the bound, the budget."""
        from ..models.masks import mask_to_key

        return {"mask": mask_to_key(self.keep.bool()), "ffn_mask": None if self.ffn_keep is None else
                mask_to_key(self.ffn_keep.bool()), "own_weights": self.weights is not None,
                "within_bound": self.within_bound, "budget": self.budget}


@dataclass
class StoredPlan:
    """A plan as the run keeps it: its stored record and, when it was computed in this process, its weights."""

    mask: str
    ffn_mask: str | None = None
    own_weights: bool = False
    within_bound: bool | None = None
    weights: Any = field(default=None, repr=False)

    @property
    def budget(self) -> str:
        return "heads" if self.ffn_mask is None else "flops"

    @classmethod
    def of(cls, plan: PruningPlan) -> "StoredPlan":
        r = plan.record()
        return cls(r["mask"], r["ffn_mask"], r["own_weights"], r["within_bound"], plan.weights)


def merge_costs(plans: list[PruningPlan]) -> dict[str, Any]:
    """Scalar info of all levels: each plan's ``info`` as reported (shared), its ``costs`` added up over levels."""
    out: dict[str, Any] = {}
    for p in plans:
        out.update({k: v for k, v in p.info.items() if isinstance(v, (int, float, str, bool)) or v is None})
    for p in plans:
        for k, v in p.costs.items():
            if v is not None:
                out[k] = out.get(k, 0) + v
    return out


@contextmanager
def gated_by(model, plan: StoredPlan | PruningPlan, shape: tuple[int, int]) -> Iterator[Any]:
    """The model a plan describes, with its heads (and FFN neurons) gated off instead of removed: the plan's own
    weights or ``model``, unchanged after the block. Computes what :func:`pruned_by` computes (up to float rounding).
    Weights whose neurons were already removed (Kwon et al.'s tuned levels) keep them removed; only heads are gated."""
    from ..models.ffn import NeuronGates
    from ..models.heads import gated
    from ..models.masks import mask_from_key

    sp = plan if isinstance(plan, StoredPlan) else StoredPlan.of(plan)
    m = sp.weights if sp.weights is not None else model
    neurons = None
    if "0" in (sp.ffn_mask or "") and not getattr(m.config, "hpbench_pruned_neurons", None):  # (else: already gone)
        L = shape[0]
        neurons = NeuronGates(m, mask_from_key(sp.ffn_mask, (L, len(sp.ffn_mask) // L)).float())
    try:
        with gated(m, mask_from_key(sp.mask, shape).float()):
            yield m
    finally:
        if neurons is not None:
            neurons.remove()


@contextmanager
def pruned_by(model, plan: StoredPlan | PruningPlan, shape: tuple[int, int]) -> Iterator[Any]:
    """The model a plan describes, physically pruned, inside the block: the plan's own weights (pruned in place: they
    belong to this plan), else ``model`` pruned temporarily (restored on exit) with FFN neurons on a copy."""
    import copy

    from ..models.ffn import prune_neurons
    from ..models.heads import prune_heads, pruned
    from ..models.masks import mask_from_key

    sp = plan if isinstance(plan, StoredPlan) else StoredPlan.of(plan)
    keep = mask_from_key(sp.mask, shape)
    ffn = None if "0" not in (sp.ffn_mask or "") else mask_from_key(sp.ffn_mask, (shape[0], len(sp.ffn_mask) // shape[0]))
    if sp.weights is not None:  # (neurons the weights already lost stay lost: prune_neurons is idempotent)
        yield prune_heads(sp.weights if ffn is None else prune_neurons(sp.weights, ffn), keep)
    elif ffn is not None:  # neurons pruned on the fine-tuned model: a copy (the plan owns it)
        yield prune_heads(prune_neurons(copy.deepcopy(model), ffn), keep)
    else:
        with pruned(model, keep) as m:
            yield m
