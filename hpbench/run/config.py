"""RunConfig: everything that defines one benchmark run (papermill parameters map onto its fields)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from ..core.device import resolve_device, resolve_precision
from ..core.files import writable_dir
from ..criteria.base import parse_spec
from ..criteria.masks import validate_sparsities
from ..criteria.units import check_unit, check_unit_ranking
from ..evaluation.evaluate import eval_batch_size_for
from ..models.registry import check_available
from ..tasks.datadir import data_dir
from ..tasks.lookup import get_task, task_label
from .finetune import FinetuneConfig
from .params import structured
from .recover import RECOVERIES
from .plugins import load_plugins

DEFAULT_SPARSITIES = [round(0.1 * i, 1) for i in range(10)]
LIST_FIELDS = ("criteria", "sparsities", "seeds", "plugins", "eval_languages")  # papermill -p passes them as strings


@dataclass
class RunConfig:
    """Everything that defines one benchmark run (papermill parameters map onto these fields)."""

    model: str = "minilm"
    task: str = "sst2"
    language: str = "en"
    criteria: list[str] = field(default_factory=lambda: ["his", "entropy", "hies", "random"])
    sparsities: list[float] = field(default_factory=lambda: list(DEFAULT_SPARSITIES))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    iterative: bool = False
    finetune_per_seed: bool = False  # False: one fine-tuned model (seed 0); seeds vary the scoring data
    n_train: int | None = 4000
    epochs: float = 2.0
    lr: float = 1e-4
    batch_size: int = 32
    max_len: int = 128
    n_dev: int | None = None
    full_dev: bool = True  # with an n_dev subset, also evaluate the unpruned model on the whole dev split (a reference)
    n_score: int = 256
    n_val: int = 256  # held-out validation subset of train (not used for fine-tuning) for search methods
    eval_batch_size: int | None = None  # None: 16 on CPU (little padding), 128 on an accelerator
    results_dir: str = "results"
    data_root: str | None = None
    eval_languages: list[str] | None = None  # zero-shot: evaluate on these languages (default: [language])
    score_language: str | None = None  # score heads on this language's data (default: language)
    plugins: list[str] = field(default_factory=list)  # modules or .py/.yaml files loaded before anything else
    device: str = "auto"  # "auto" (CUDA, else MPS, else CPU), "cpu", "cuda", "cuda:N", "mps"
    precision: str = "auto"  # "auto" (bf16 on GPUs and CPUs with AVX-512 BF16/AMX, else fp32), "fp32", "bf16", "fp16"
    # the word-embedding matrix during fine-tuning: None = frozen for pretrained models, trained for the tiny
    # random ones (hpbench.models.tiny: trained from scratch, a random vocabulary would stay random)
    freeze_word_embeddings: bool | None = None
    # pruning unit (hpbench.criteria.units): "query" heads one by one, whole KV "group"s, or "balanced" groups; and
    # whether every layer prunes the same number of units. A list in a grid's run_params runs each.
    gqa_unit: str = "query"
    layer_uniform: bool = False
    # recovery after pruning (hpbench.run.recover): "none", "mask_tuning" or "finetune" (a list in a grid runs each)
    recovery: str = "none"
    recovery_steps: int = 100  # finetune: optimizer steps on the physically pruned model
    recovery_lr: float = 5e-5  # finetune: peak learning rate
    recovery_n: int = 512  # mask_tuning: training examples for the least-squares fit

    def validate(self) -> "RunConfig":
        """Check every field (clear errors naming the bad value, before any work starts)."""
        load_plugins(self.plugins)  # first: they may define the model, task or criteria named below
        resolve_precision(self.precision, resolve_device(self.device))
        check_available(self.model)
        task = get_task(self.task)
        if isinstance(self.eval_languages, str):
            raise ValueError(f"eval_languages must be a list of language codes, got {self.eval_languages!r}")
        for lang in [self.language] + list(self.eval_languages or []) + ([self.score_language] if self.score_language else []):
            task.check_language(lang, self.data_root)
        if isinstance(self.criteria, str) or not self.criteria:
            raise ValueError(f"criteria must be a non-empty list of criterion names, got {self.criteria!r}")
        for c in self.criteria:
            parse_spec(c)
        self.sparsities = validate_sparsities(self.sparsities)
        if isinstance(self.seeds, (int, str)) or not self.seeds:
            raise ValueError(f"seeds must be a non-empty list of integers, got {self.seeds!r}")
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int):
                raise ValueError(f"seed {s!r} is not an integer; seeds must be a list of integers, e.g. [0, 1, 2]")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} contain duplicates")
        for name in ("n_train", "n_dev"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise ValueError(f"{name} must be a positive integer or None (all), got {v!r}")
        for name in ("n_score", "n_val", "batch_size", "eval_batch_size", "max_len", "recovery_steps", "recovery_n"):
            v = getattr(self, name)
            if (v is not None or name != "eval_batch_size") and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.freeze_word_embeddings not in (None, True, False):
            raise ValueError(f"freeze_word_embeddings must be True, False or None (auto), got {self.freeze_word_embeddings!r}")
        for name in ("epochs", "lr", "recovery_lr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or (v == 0 and name != "epochs"):
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        self._check_zero_shot()
        for name in ("iterative", "finetune_per_seed", "full_dev"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        self._check_units()
        self._check_recovery()
        data_dir(self.data_root)  # raises if an explicit data directory does not exist
        writable_dir(self.results_dir)
        return self

    def _check_zero_shot(self) -> None:
        """``epochs=0`` evaluates the pretrained model as it is: only for kinds that use the model's own output head."""
        from ..tasks.kinds import KINDS, kind_of

        task = get_task(self.task)
        if self.epochs == 0 and not kind_of(task).zero_shot:
            ok = [k for k in KINDS.names() if KINDS.get(k).zero_shot]
            raise ValueError(f"epochs=0 (no fine-tuning) needs a task whose kind uses the pretrained model's own head "
                             f"(allowed kinds: {', '.join(ok)}); task {self.task!r} is of kind {task.kind!r}, whose head "
                             "would be untrained: give epochs > 0")

    def _check_recovery(self) -> None:
        allowed = ("none", *RECOVERIES.names())
        if self.recovery not in allowed:
            raise ValueError(f"recovery {self.recovery!r} is not one of {allowed}")

    def _check_units(self) -> None:
        check_unit(self.gqa_unit, self.layer_uniform)
        searching = [c for c in self.criteria if parse_spec(c)[0].mask_fn is not None]
        check_unit_ranking(self.gqa_unit, self.layer_uniform, iterative=self.iterative, searches=searching)

    @property
    def structured_units(self) -> bool:
        """Whether masks are built from other units than single query heads ranked globally."""
        return (self.gqa_unit, self.layer_uniform) != ("query", False)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None, base: "RunConfig | None" = None) -> "RunConfig":
        """A RunConfig from ``base`` (or the defaults) with ``params`` overriding fields; an unknown name is an
        error that lists the allowed ones (so a misspelt papermill parameter is never silently ignored)."""
        params = {k: structured(k, v, (list,)) if k in LIST_FIELDS else v for k, v in dict(params or {}).items()}
        unknown = sorted(set(params) - set(cls.__dataclass_fields__))
        if unknown:
            raise TypeError(f"unknown run parameter(s) {', '.join(map(repr, unknown))}; allowed: "
                            f"{', '.join(cls.__dataclass_fields__)}")
        return cls(**{**(asdict(base) if base is not None else {}), **params})

    @property
    def torch_device(self) -> torch.device:
        return resolve_device(self.device)

    @property
    def amp(self) -> str:
        """The precision actually used on this run's device."""
        return resolve_precision(self.precision, self.torch_device)

    @property
    def eval_batch(self) -> int:
        return self.eval_batch_size or eval_batch_size_for(self.torch_device)

    def finetune_seed(self, seed: int) -> int:
        """The fine-tuning seed that scoring seed ``seed`` uses (itself, or the first seed when models are shared)."""
        return seed if self.finetune_per_seed else self.seeds[0]

    @property
    def run_id(self) -> str:
        rid = f"{Path(str(self.model)).name}-{task_label(self.task)}-{self.language}"
        if self.finetune_per_seed:
            rid += "-ftseeds"  # one fine-tuned model per seed: its own folder beside the shared-model run
        if self.eval_languages and list(self.eval_languages) != [self.language]:
            rid += "-zeroshot"
        if self.score_language and self.score_language != self.language:
            rid += f"-scored-{self.score_language}"
        if self.gqa_unit != "query":
            rid += f"-{self.gqa_unit}"
        if self.layer_uniform:
            rid += "-uniform"
        if self.recovery != "none":
            rid += f"-rec-{self.recovery}"
        return rid

    def finetune_config(self, seed: int) -> FinetuneConfig:
        """Fine-tuning settings of the model used by scoring seed ``seed``."""
        seed = self.finetune_seed(seed)
        freeze = self.freeze_word_embeddings
        if freeze is None:
            from ..models.tiny import is_tiny

            freeze = not is_tiny(self.model)
        return FinetuneConfig(self.model, self.task, self.language, seed, self.n_train, self.epochs, self.lr,
                              self.batch_size, self.max_len, precision=self.amp, freeze_word_embeddings=freeze)


def notebook_params(namespace: Mapping[str, Any], before: set[str]) -> dict[str, Any]:
    """The parameters papermill injected into a notebook: the names in ``namespace`` that were not in
    ``before`` (taken before the parameters cell), leaving out IPython's own ``_``-names."""
    return {k: v for k, v in namespace.items() if k not in before and not k.startswith("_")}


