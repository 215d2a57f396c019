"""What report sections read: the tables of a run (the run page) or of a results folder (the comparison page), with
every derived table (bootstrap replicates, AUC, claims, comparisons at equal FLOPs) computed once, on first use.

A derived table is computed lazily, so a section whose table fails shows that error in its own place and sections
that do not need it render.
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

import pandas as pd


class ReportContext:
    """Tables and derived tables of one report page. ``tables``: :func:`hpbench.run.results.load_tables` (or one
    run's tables); ``page``: ``"comparison"`` or ``"run"``."""

    def __init__(self, tables: dict[str, pd.DataFrame], *, page: str = "comparison", title: str = "hpbench comparison",
                 status_csv: str = "", results_dir: str = "", reports_dir: str = "", cfg: Any = None) -> None:
        self.all_tables, self.page, self.title = tables, page, title
        self.status_csv, self.results_dir, self.reports_dir, self.cfg = status_csv, results_dir, reports_dir, cfg

    @classmethod
    def comparison(cls, results_dir: str, **kw: Any) -> "ReportContext":
        from ...run.results import load_tables

        return cls(load_tables(results_dir), page="comparison", results_dir=results_dir, **kw)

    @classmethod
    def run(cls, cfg: Any, tables: dict[str, pd.DataFrame]) -> "ReportContext":
        return cls(tables, page="run", cfg=cfg, results_dir=getattr(cfg, "results_dir", ""))

    @cached_property
    def all_reps(self) -> list:
        """Bootstrap replicates of every point (dev examples x seeds), every criterion."""
        from ..intervals import replicates

        return replicates(self.all_tables)

    @cached_property
    def variants(self) -> bool:
        """Whether the HIES grid's settings ran (they are left out of the main curves)."""
        from ..hies_grid import has_variants

        return has_variants(self.all_tables)

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables of the main criteria (the HIES grid's settings left out)."""
        from ..hies_grid import main_criteria

        return main_criteria(self.all_tables)

    @cached_property
    def reps(self) -> list:
        from ..intervals import replicates

        return replicates(self.tables) if self.variants else self.all_reps

    @cached_property
    def auc(self) -> pd.DataFrame:
        from ..intervals import auc_table

        return auc_table(self.reps)

    @cached_property
    def prunable(self) -> pd.DataFrame:
        from ..intervals import prunable_table

        return prunable_table(self.reps)

    @cached_property
    def claims(self) -> pd.DataFrame:
        from ...claims import claims_table

        return claims_table(self.all_tables, self.all_reps)

    @cached_property
    def flops_reps(self) -> list:
        """Replicates of the runs with a criterion under a FLOPs budget (``kwon:ffn=true``), every criterion."""
        from ..flops import budgeted_replicates

        return budgeted_replicates(self.all_tables)

    @cached_property
    def equal_flops(self) -> pd.DataFrame:
        from ..flops import equal_flops_table

        return equal_flops_table(self.all_tables, reps=self.flops_reps)

    @property
    def results(self) -> pd.DataFrame:
        return self.tables["results"]

    @property
    def has_results(self) -> bool:
        return len(self.tables.get("results", ())) > 0

    def models(self) -> list[str]:
        run = self.tables.get("run")
        return sorted(run["model"].unique()) if run is not None and len(run) else []
