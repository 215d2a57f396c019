"""Report sections: every module of this folder registers one (see :mod:`.base`); plugins register their own."""
from __future__ import annotations

import importlib
import pkgutil

from .base import SECTIONS, Section, error_box, register, render_page, render_section, sections_for
from .context import ReportContext

for _m in pkgutil.iter_modules(__path__):
    if _m.name not in ("base", "context"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["SECTIONS", "Section", "ReportContext", "error_box", "register", "render_page", "render_section",
           "sections_for"]
