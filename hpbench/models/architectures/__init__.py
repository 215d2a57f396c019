"""Architectures: one record per model family, one file each (see :mod:`.base`); every module of this folder
registers its record on import."""
from __future__ import annotations

import importlib
import pkgutil

from .base import ARCHITECTURES, FAMILIES, Architecture, TinyConfig, architecture_for, register_architecture

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base":
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["ARCHITECTURES", "FAMILIES", "Architecture", "TinyConfig", "architecture_for", "register_architecture"]
