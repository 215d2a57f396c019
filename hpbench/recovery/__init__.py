"""Recovery after pruning (between choosing a mask and evaluating it): ``none``, ``mask_tuning`` (hpbench's one-pass
least-squares rescaling of the kept heads toward the unpruned model, after Kwon et al. 2022) and ``finetune`` (a few
steps of fine-tuning the physically pruned model); :mod:`hpbench.recovery.rescale` is Kwon et al.'s released mask
tuning, which ``kwon`` runs. The ``recovery`` field of a run picks one; :mod:`hpbench.run.recover` applies it."""
from .mask_tuning import head_gram, tune_mask, tuned_scales
from .rescale import Rescaled, lsmr_toward_one, rescale_mask

__all__ = ["head_gram", "tune_mask", "tuned_scales", "Rescaled", "lsmr_toward_one", "rescale_mask"]
