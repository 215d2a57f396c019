"""The recovery stage, between a mask and its evaluation (RunConfig ``recovery``; a list in a grid runs each):

* ``none``: the pruned model as the criterion left it;
* ``mask_tuning``: Kwon et al. 2022's least-squares rescaling of the kept heads (:mod:`hpbench.recovery`), on
  ``recovery_n`` training examples of the fine-tuning seed, applied to any criterion's mask;
* ``finetune``: ``recovery_steps`` steps of fine-tuning the *physically pruned* model (AdamW, ``recovery_lr``,
  linear warm-up/decay, word embeddings frozen as in fine-tuning) on ``recovery_steps x batch_size`` training
  examples of that seed.

The unpruned model (sparsity 0) is never recovered, so every recovery shares the same 0 % anchor. Masks of
criteria that fine-tune after pruning themselves (prune-before-finetune: SMP) are not recovered again.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from ..core.registry import Registry
from ..models.heads import prune_heads
from ..recovery.mask_tuning import head_gram, tune_mask
from ..tasks.encoding import encode
from .finetune import train_steps

SEED = 424242  # training-sample seed offset of recovery (disjoint from the scoring subsets' seeds)
RECOVERIES: Registry[Callable[..., nn.Module]] = Registry("recovery")


def _sample(prep, sm, n: int) -> list[dict]:
    ex = prep.task.load("train", language=prep.cfg.language, n=n, seed=SEED + prep.cfg.finetune_seed(sm.seed),
                        data_root=prep.cfg.data_root)
    return encode(prep.task, sm.tokenizer, ex, prep.cfg.max_len)


def _mask_tuning(prep, sm, base: nn.Module, keep: torch.Tensor) -> nn.Module:
    cfg = prep.cfg
    memo = sm.__dict__.setdefault("recovery_memo", {})
    key = ("gram", id(base))
    if key not in memo:
        memo[key] = (base, head_gram(base, _sample(prep, sm, cfg.recovery_n), cfg.batch_size, sm.pad_id))
    return prune_heads(tune_mask(base, keep, memo[key][1])[0], keep)


def _finetune(prep, sm, base: nn.Module, keep: torch.Tensor) -> nn.Module:
    cfg = prep.cfg
    model = prune_heads(copy.deepcopy(base), keep)
    for p in model.parameters():
        p.requires_grad_(True)
    emb = model.get_input_embeddings()
    if isinstance(emb, nn.Embedding) and cfg.finetune_config(sm.seed).freeze_word_embeddings:  # as fine-tuning did
        emb.weight.requires_grad_(False)
    data = _sample(prep, sm, cfg.recovery_steps * cfg.batch_size)
    epochs = cfg.recovery_steps * cfg.batch_size / max(1, len(data))
    train_steps(model, prep.task, data, epochs=epochs, lr=cfg.recovery_lr, batch_size=cfg.batch_size,
                seed=prep.cfg.finetune_seed(sm.seed), pad_id=sm.pad_id, precision=cfg.amp, desc="recovery fine-tune")
    return model.eval()


RECOVERIES.add("mask_tuning", _mask_tuning)
RECOVERIES.add("finetune", _finetune)


def recovered(prep, sm, base: nn.Module, keep: torch.Tensor) -> nn.Module:
    """The physically pruned, recovered model for mask ``keep`` (``base``: the fine-tuned model or the criterion's
    own weights; not modified)."""
    return RECOVERIES.get(prep.cfg.recovery)(prep, sm, base, keep)
