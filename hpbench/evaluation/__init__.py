"""Evaluation: a (gated or physically pruned) model's predictions and the task's metrics on encoded examples."""
from .evaluate import EVAL_BATCH_SIZE, evaluate, predict, score

__all__ = ["EVAL_BATCH_SIZE", "evaluate", "predict", "score"]
