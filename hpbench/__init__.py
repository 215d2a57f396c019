"""hpbench: a reproducible benchmark for attention-head pruning of Transformers (encoders, decoders, ViT).

The pipeline, one subpackage per stage:
``models`` (weights, head gates, pruning, FLOPs) -> ``tasks`` (data, encoding, metrics) ->
``criteria`` (scores -> masks) -> ``evaluation`` (pruned model -> metrics) -> ``run`` (stages, result
tables, grid) -> ``report`` (figures, HTML). ``core`` holds the plumbing they share.
"""
from .core import VERSION as __version__
from .core.registry import NameCollisionError, UnknownNameError
from .criteria import Criterion, MaskResult, ScoringContext, list_criteria, register_criterion
from .models import HeadGates, from_pretrained, gated, list_models, prune_heads, register_model, save_pretrained
from .run import RunConfig, load_tables, run_benchmark
from .tasks import list_tasks, load_task, register_task
from .tasks.metrics import register_metric

__all__ = [
    "__version__", "Criterion", "MaskResult", "ScoringContext", "list_criteria", "register_criterion", "HeadGates",
    "gated", "prune_heads", "from_pretrained", "save_pretrained", "list_models", "register_model", "list_tasks", "register_task", "load_task",
    "register_metric",
    "UnknownNameError", "NameCollisionError", "RunConfig", "run_benchmark", "load_tables",
]
