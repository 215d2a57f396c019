"""Criteria: scores -> masks.

``base`` (the interface, registry, :class:`ScoringContext`) -> ``plan`` (:class:`PruningPlan`, what every criterion
gives per level) -> ``stats`` (one
forward+backward pass giving HIS and attention entropy) -> the built-in criteria (``his``, ``entropy``,
``hies``, ``l2``, ``ad``, ``hies_recon``, ``flap``, ``random``, ``astar``, ``dsp``, ``smp``,
``smp_distance``, ``his_mean``, ...: every module of this folder is imported) -> ``masks`` (global ranking, keep masks per sparsity).
"""
import importlib
import pkgutil

for _m in pkgutil.iter_modules(__path__):  # every module registers its criteria on import: a new one is one file
    importlib.import_module(f"{__name__}.{_m.name}")
from .base import CRITERIA, Criterion, MaskResult, ScoringContext, list_criteria, parse_spec, register_criterion
from .plan import PruningPlan
from .masks import CriterionMasks, keep_from_scores, layer_l2, masks_for_sparsities, minmax, n_to_prune, validate_sparsities
from .stats import HeadStats, head_stats

__all__ = ["CRITERIA", "Criterion", "MaskResult", "PruningPlan", "ScoringContext", "list_criteria", "parse_spec", "register_criterion",
           "CriterionMasks", "keep_from_scores", "layer_l2", "masks_for_sparsities", "minmax", "n_to_prune",
           "validate_sparsities", "HeadStats", "head_stats"]
