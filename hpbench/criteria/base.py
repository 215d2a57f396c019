"""The criterion interface, its registry and the helpers every criterion shares.

A criterion is a function ``fn(ctx: ScoringContext, **params) -> Tensor[layers, heads]`` whose
output is an importance score: **higher = keep**, the lowest are pruned first. Register one with::

    @hpbench.register_criterion("my_score")
    def my_score(ctx, temperature: float = 1.0):
        return -ctx.stats().entropy / temperature

Criteria that search for masks directly (A*, DSP, SMP) also give ``mask_fn(ctx, n_prune, **params)``
returning a :class:`MaskResult` (or a bare ``[layers, heads]`` keep mask) with exactly ``n_prune``
heads pruned (a ``mask_fn`` with a ``sparsity`` parameter also gets the level itself; one that returns
``ffn_keep`` searched under a FLOPs budget and may prune any number of heads). Work shared between calls (one scoring pass, a search, learned logits) goes into the
context's memo (``ctx.remember(key, compute)``), never into ad-hoc attributes.

A criterion is named in sweeps by a spec string: ``"his"`` or with parameters
``"hies:alpha=0.3,entropy_sign=1"``.
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence, TypeVar

import torch

from ..core.registry import Registry
from ..models.heads import head_shape
from .plan import PruningPlan
from .stats import HeadStats, head_stats

T = TypeVar("T")


@dataclass
class Criterion:
    name: str
    fn: Callable[..., torch.Tensor]
    description: str = ""
    mask_fn: Callable[..., torch.Tensor] | None = None
    protocol: str = "prune-after-finetune"  # or "prune-before-finetune" (SMP)
    rescoring: bool = True  # whether iterative re-scoring changes anything (False for random)
    check: Callable[..., None] | None = None  # check(**params): raises on a bad value when the spec is parsed
    # compensate(ctx, keep, **params) -> a model whose weights go with mask ``keep`` (FLAP's bias compensation)
    compensate: Callable[..., Any] | None = None
    # the method prunes the same number of units in every layer, as released (Wanda-sp), whatever the run's setting
    layer_uniform: bool = False

    @property
    def source_digest(self) -> str:
        """Hash of the criterion's code (score and mask functions): stored scores are keyed by it, so editing a
        criterion (a plugin file, a notebook cell, hpbench itself) recomputes what it produced."""
        import hashlib

        parts = []
        for f in (self.fn, self.mask_fn, self.compensate):
            if f is None:
                continue
            try:
                parts.append(inspect.getsource(f))
            except (OSError, TypeError):  # no source (e.g. built in C): the bytecode identifies it
                parts.append(repr(getattr(getattr(f, "__code__", None), "co_code", f)))
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    @property
    def params(self) -> dict[str, Any]:
        sig = inspect.signature(self.fn)
        return {k: p.default for k, p in list(sig.parameters.items())[1:] if p.default is not inspect.Parameter.empty}


CRITERIA: Registry[Criterion] = Registry("criterion")


PROTOCOLS = ("prune-after-finetune", "prune-before-finetune")


def register_criterion(name: str, *, mask_fn: Callable | None = None, protocol: str = "prune-after-finetune",
                       rescoring: bool = True, overwrite: bool = False, check: Callable[..., None] | None = None,
                       compensate: Callable[..., Any] | None = None, layer_uniform: bool = False):
    """Decorator registering ``fn(ctx, **params) -> scores [L, H]`` (higher = keep) under ``name``.

    ``check(**params)`` (optional) raises on a bad parameter value; :func:`parse_spec` calls it, so a bad value
    stops a run (and the grid's up-front check) before any work. A name already registered (e.g. a plugin
    defining ``his``) is an error unless ``overwrite=True``. ``compensate(ctx, keep, **params)`` (optional) returns
    a copy of the model adjusted for each level's mask (evaluated, pruned, instead of the fine-tuned model).
    ``layer_uniform=True``: the method's own allocation prunes the same number of units in every layer (its scores are
    not comparable across layers), so its plans are layer-uniform whatever the run's ``layer_uniform``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"criterion {name!r}: unknown protocol {protocol!r}; allowed: {', '.join(PROTOCOLS)}")

    def deco(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        doc = inspect.getdoc(fn) or ""
        CRITERIA.add(name, Criterion(name, fn, doc.split("\n")[0], mask_fn, protocol, rescoring, check, compensate,
                                 layer_uniform), overwrite=overwrite)
        return fn

    return deco


def list_criteria() -> list[str]:
    return CRITERIA.names()


def parse_spec(spec: str) -> tuple[Criterion, dict[str, Any]]:
    """``"name"`` or ``"name:key=value,key=value"`` -> (criterion, params), checked against its signature."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"criterion spec must be a non-empty string like 'his' or 'hies:alpha=0.5', got {spec!r}")
    name, _, rest = spec.partition(":")
    crit = CRITERIA.get(name.strip())
    allowed = crit.params
    params: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, raw = part.partition("=")
        key = key.strip()
        if not eq or key not in allowed:
            raise ValueError(f"criterion {name!r}: bad parameter {part!r}; allowed: "
                             + (", ".join(f"{k}={v!r}" for k, v in allowed.items()) or "none"))
        default = allowed[key]
        try:
            if isinstance(default, bool):
                if raw.strip().lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                val: Any = raw.strip().lower() in ("true", "1")
            elif isinstance(default, (int, float)) and default is not None:
                val = type(default)(float(raw)) if isinstance(default, int) else float(raw)
            else:
                val = raw.strip()
        except ValueError:
            raise ValueError(f"criterion {name!r}: {key}={raw!r} is not a {type(default).__name__}") from None
        params[key] = val
    if crit.check is not None:
        try:
            crit.check(**{**crit.params, **params})
        except ValueError as e:
            raise ValueError(f"criterion spec {spec!r}: {e}") from None
    return crit, params


MaskResult = PruningPlan  # what a criterion's ``mask_fn`` gives for one level (:mod:`hpbench.criteria.plan`)


@dataclass
class ScoringContext:
    """What a criterion may use: the fine-tuned model, the task, scoring examples and the seed.

    ``stats()`` runs the one-pass scorer (HIS + entropy) once per mask and memoises it, so ``his``,
    ``entropy`` and ``hies`` share one pass. ``keep`` is the mask to score under (iterative pruning
    re-scores a copy made with :meth:`under`; the context itself is never mutated). ``validation`` is a
    held-out subset of the training split for search methods; ``extras`` is free for user criteria.
    """

    model: Any
    task: Any
    encoded: Sequence[dict]
    seed: int = 0
    batch_size: int = 32
    keep: torch.Tensor | None = None
    pad_id: int = 0
    validation: Sequence[dict] | None = None
    tokenizer: Any = None
    precision: str = "fp32"  # autocast of the forward passes (hpbench.core.device)
    extras: dict[str, Any] = field(default_factory=dict)
    memo: dict[Hashable, Any] = field(default_factory=dict, repr=False)  # shared by every copy from under()
    info: dict[str, Any] = field(default_factory=dict)  # scalars a criterion records (e.g. a chosen alpha) -> results

    def remember(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per key for this context and its copies; the memoised value after that."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def under(self, keep: torch.Tensor | None) -> "ScoringContext":
        """A copy that scores with ``keep`` gating the model (sharing this context's memo)."""
        return dataclasses.replace(self, keep=None if keep is None else torch.as_tensor(keep).bool().clone())

    def stats(self, n: int | None = None) -> HeadStats:
        """HIS and entropies on the scoring examples (the first ``n`` of them: a calibration subset; the scoring
        subset is already a seeded random sample), memoised per mask and ``n``."""
        keep = None if self.keep is None or bool(torch.as_tensor(self.keep).all()) else torch.as_tensor(self.keep)
        n = None if n is None or n >= len(self.encoded) else int(n)
        key = ("head_stats", None if keep is None else tuple(keep.flatten().tolist())) + (() if n is None else (n,))
        data = self.encoded if n is None else self.encoded[:n]
        return self.remember(key, lambda: head_stats(self.model, self.task, data, batch_size=self.batch_size,
                                                     keep=keep, pad_id=self.pad_id, precision=self.precision))

    def sample(self, n: int) -> Sequence[dict]:
        """``n`` encoded training examples of this seed (the run's sampler ``extras["train_sample"]``; all of them
        where the task has fewer), for methods with their own sample size (Kwon et al.: 2,048); the scoring
        examples when no sampler is given (a context built by hand)."""
        loader = self.extras.get("train_sample")
        if loader is None:
            return self.encoded
        return self.remember(("train_sample", int(n)), lambda: loader(int(n)))

    def draw(self, n: int, rule: Callable[[int, int, int], list[int]]) -> Sequence[dict]:
        """``n`` encoded training examples at the indices ``rule(len(train split), n, seed)`` (a method's own sampling
        rule, e.g. Kwon et al.'s draw with replacement), through the run's ``extras["train_draw"]``; from the
        scoring examples when no loader is given (a context built by hand). Memoised per rule and ``n``."""
        loader = self.extras.get("train_draw")
        key = ("train_draw", getattr(rule, "__qualname__", repr(rule)), int(n))
        if loader is None:
            return self.remember(key, lambda: [self.encoded[i] for i in rule(len(self.encoded), int(n), int(self.seed))])
        return self.remember(key, lambda: loader(int(n), rule))

    def avg_length(self) -> float:
        """The task's average dev-set length in tokens (``extras["dev_avg_len"]``, set by the run), else the scoring
        examples' average (Kwon et al.'s MAC costs use the dev average)."""
        from ..tasks.encoding import length

        if "dev_avg_len" in self.extras:
            return float(self.extras["dev_avg_len"])
        return sum(length(e) for e in self.encoded) / max(1, len(self.encoded))

    def generator(self, salt: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(int(self.seed) * 7919 + salt)

    @property
    def shape(self) -> tuple[int, int]:
        return head_shape(self.model)
