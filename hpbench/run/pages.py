"""The report pages a grid renders: the sections of every room, over a results folder or one run's tables.

The notebooks call these (and stay thin); living in ``run/``, the top floor, they may gather what the lower rooms
register: ``report``'s sections and ``claims``' section and table.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..claims import section as _claims_section  # noqa: F401 - registers the claims section and table
from ..report.sections import ReportContext, render_page
from .plugins import load_plugins
from .results import load_tables


def comparison_page(results_dir: str, *, title: str = "hpbench comparison", status_csv: str = "",
                    reports_dir: str = "", plugins=()) -> list[str]:
    """Render the comparison page over every run in ``results_dir`` (plugins may add sections); returns the keys
    of the sections shown."""
    load_plugins(list(plugins or []))
    ctx = ReportContext(load_tables(results_dir), page="comparison", title=title, status_csv=status_csv,
                        results_dir=results_dir, reports_dir=reports_dir)
    return render_page("comparison", ctx)


def run_page(cfg: Any, tables: dict[str, pd.DataFrame]) -> list[str]:
    """Render one run's page from its tables (the run's plugins are loaded already)."""
    return render_page("run", ReportContext(tables, page="run", cfg=cfg, results_dir=getattr(cfg, "results_dir", "")))
