"""What report sections read: the tables of a run (the run page) or of a results folder (the comparison page), with
every derived table (bootstrap replicates, AUC, claims, comparisons at equal FLOPs) computed once, on first use.

A derived table is computed lazily, so a section whose table fails shows that error in its own place and sections
that do not need it render.
"""
from __future__ import annotations

from functools import cached_property
from typing import Any, Callable

import pandas as pd

from ...core.registry import Registry

# tables other rooms derive from a page's tables (the claims: hpbench.claims.section), by name
DERIVED: Registry[Callable[["ReportContext"], Any]] = Registry("derived report table")


class ReportContext:
    """Tables and derived tables of one report page. ``tables``: :func:`hpbench.run.results.load_tables` (or one
    run's tables); ``page``: ``"comparison"`` or ``"run"``."""

    def __init__(self, tables: dict[str, pd.DataFrame], *, page: str = "comparison", title: str = "hpbench comparison",
                 status_csv: str = "", results_dir: str = "", reports_dir: str = "", cfg: Any = None) -> None:
        self.all_tables, self.page, self.title = tables, page, title
        self.status_csv, self.results_dir, self.reports_dir, self.cfg = status_csv, results_dir, reports_dir, cfg
        self._derived: dict[str, Any] = {}

    def derived(self, name: str) -> Any:
        """The table ``name`` that another room derives from these tables (computed once), or None when no room
        registered it (:data:`DERIVED`)."""
        if name not in DERIVED:
            return None
        if name not in self._derived:
            self._derived[name] = DERIVED.get(name)(self)
        return self._derived[name]

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
    def flops_reps(self) -> list:
        """Replicates of the runs with a criterion under a FLOPs budget (``kwon``), every criterion."""
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
