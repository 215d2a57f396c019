"""hpbench: a reproducible benchmark for attention-head pruning of Transformer encoders."""
__version__ = "0.1.0"

from .criteria import Criterion, ScoringContext, list_criteria, register_criterion  # noqa: E402
from .heads import HeadGates, from_pretrained, gated, prune_heads  # noqa: E402
from .models import list_models, register_model  # noqa: E402
from .registry import UnknownNameError  # noqa: E402
from .tasks import list_tasks, register_task  # noqa: E402
from . import tasks_multilingual  # noqa: E402,F401  (registers panx, udpos, ud, xnli, ner)
from . import scorers  # noqa: E402,F401  (registers the built-in criteria)

__all__ = [
    "Criterion", "ScoringContext", "list_criteria", "register_criterion", "HeadGates", "gated", "prune_heads",
    "from_pretrained", "list_models", "register_model", "list_tasks", "register_task", "UnknownNameError",
]
