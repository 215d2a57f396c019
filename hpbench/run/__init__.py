"""Running benchmarks: ``config`` (RunConfig) -> ``finetune`` (cached checkpoints) -> ``stages`` (prepare,
score, mask, evaluate, tabulate) composed by ``benchmark.run_benchmark`` -> ``results`` (tables: schema,
save, merge, load) and ``store`` (resumable records); ``cell``, ``executors`` and ``grid`` run many."""
from .benchmark import run_benchmark
from .config import RunConfig
from .results import load_tables

__all__ = ["run_benchmark", "RunConfig", "load_tables"]
