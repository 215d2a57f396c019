"""Tasks: what examples look like, where they come from, how they are scored.

``spec`` (the Task type and registry) -> ``kinds`` (what a kind of task feeds the model and scores) ->
``datadir``/``conll`` (readers) -> ``glue``, ``multilingual``, ``images`` (built-in tasks) -> ``encoding`` (tokenised, padded batches) and ``metrics``.
"""
from . import lm_eval_kinds  # noqa: F401  (register the lm-eval kinds before the built-in specs use them)
from . import glue, images, lm_tasks, multilingual  # noqa: F401  (register the built-in tasks)
from .datadir import DataError, data_dir
from .lookup import get_task
from .spec import Example, Task, examples_digest, list_tasks, register_task, sample_indices
from .specs import load_task

__all__ = ["DataError", "data_dir", "Example", "Task", "examples_digest", "get_task", "list_tasks", "register_task", "sample_indices", "load_task"]
