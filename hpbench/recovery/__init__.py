"""Recovery after pruning (between choosing a mask and evaluating it): ``none``, ``mask_tuning`` (least-squares
rescaling of the kept heads, Kwon et al. 2022) and ``finetune`` (a few steps of fine-tuning the physically pruned
model). The ``recovery`` field of a run picks one; :mod:`hpbench.recovery.apply` applies it."""
from .mask_tuning import head_gram, tune_mask, tuned_scales

__all__ = ["head_gram", "tune_mask", "tuned_scales"]
