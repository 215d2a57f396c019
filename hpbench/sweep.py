"""Old location of ``run_benchmark`` and ``RunConfig`` (hpbench <= 0.1 layout), kept so existing notebooks run.

Import them from :mod:`hpbench` or :mod:`hpbench.run` instead.
"""
import warnings

from .run.benchmark import run_benchmark
from .run.config import RunConfig
from .run.results import load_tables

warnings.warn("hpbench.sweep moved to hpbench.run (run_benchmark, RunConfig, load_tables are also in hpbench itself)",
              DeprecationWarning, stacklevel=2)

__all__ = ["run_benchmark", "RunConfig", "load_tables"]
