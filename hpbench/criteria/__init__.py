"""Criteria: scores -> masks.

``base`` (the interface, registry, :class:`ScoringContext`, :class:`MaskResult`) -> ``stats`` (one
forward+backward pass giving HIS and attention entropy) -> the built-in criteria (``his``, ``entropy``,
``hies``, ``l2``, ``ad``, ``hies_recon``, ``flap``, ``random``, ``astar``, ``dsp``, ``smp``,
``smp_distance``) -> ``masks`` (global ranking, keep masks per sparsity).
"""
from . import astar, dsp, entropy, flap, hies, hies_recon, his, kwon, l0, random, smp, smp_distance  # noqa: F401  (register the built-in criteria)
from .base import CRITERIA, Criterion, MaskResult, ScoringContext, list_criteria, parse_spec, register_criterion
from .masks import CriterionMasks, keep_from_scores, layer_l2, masks_for_sparsities, minmax, n_to_prune, validate_sparsities
from .stats import HeadStats, head_stats

__all__ = ["CRITERIA", "Criterion", "MaskResult", "ScoringContext", "list_criteria", "parse_spec", "register_criterion",
           "CriterionMasks", "keep_from_scores", "layer_l2", "masks_for_sparsities", "minmax", "n_to_prune",
           "validate_sparsities", "HeadStats", "head_stats"]
