"""Fine-tune a registered model on a task; checkpoints are cached by their full configuration."""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import __version__
from .batching import batches, encode, model_inputs
from .cache import atomic_dir, atomic_write_json, commit_dir, config_hash
from .datadir import PROJECT_ROOT
from .models import load, resolve_model
from .tasks import get_task


def cache_root() -> Path:
    return Path(os.environ.get("HPBENCH_CACHE", PROJECT_ROOT / ".cache"))


@dataclass(frozen=True)
class FinetuneConfig:
    model: str
    task: str
    language: str = "en"
    seed: int = 0
    n_train: int | None = None
    epochs: float = 2.0
    lr: float = 1e-4
    batch_size: int = 32
    max_len: int = 128
    warmup: float = 0.06
    weight_decay: float = 0.01
    prune_mask: str | None = None  # heads pruned before fine-tuning (SMP protocol), as a 0/1 string
    freeze_word_embeddings: bool = True  # the vocabulary matrix stays pretrained (faster on CPU; 250k rows for me5)

    def key(self) -> str:
        d = asdict(self)
        d["model"] = resolve_model(self.model) if not os.path.isdir(str(self.model)) else os.path.abspath(self.model)
        d["version"] = __version__.split("+")[0]
        return config_hash(d)


def set_seed(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_steps(model, task, encoded, *, epochs: float, lr: float, batch_size: int, seed: int, warmup: float = 0.06,
                weight_decay: float = 0.01, pad_id: int = 0, desc: str = "fine-tune", extra_params=None,
                on_step=None) -> list[float]:
    """AdamW with linear warm-up and decay; returns the loss of every step."""
    device = next(model.parameters()).device
    steps_per_epoch = math.ceil(len(encoded) / batch_size)
    total = max(1, int(round(epochs * steps_per_epoch)))
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": params, "lr": lr, "weight_decay": weight_decay}] + list(extra_params or [])
    opt = torch.optim.AdamW(groups)
    n_warm = int(warmup * total)
    base = [g["lr"] for g in opt.param_groups]
    model.train()
    losses: list[float] = []
    step, epoch = 0, 0
    with tqdm(total=total, desc=desc, leave=False) as bar:
        while step < total:
            for b in batches(encoded, batch_size, shuffle=True, seed=seed * 1000 + epoch, pad_id=pad_id):
                if step >= total:
                    break
                f = (step + 1) / max(1, n_warm) if step < n_warm else max(0.0, (total - step) / max(1, total - n_warm))
                for g, lr0 in zip(opt.param_groups, base):
                    g["lr"] = lr0 * f
                out = model(**model_inputs(b, device))
                loss = task.loss_per_example(out.logits, b["labels"].to(device)).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                if on_step is not None:
                    on_step(step)
                losses.append(loss.item())
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
            epoch += 1
    model.eval()
    return losses


def finetune(cfg: FinetuneConfig, *, data_root=None, cache: Path | None = None, model=None, tokenizer=None) -> Path:
    """Fine-tune (or reuse the cached checkpoint) and return the checkpoint folder.

    Pass ``model``/``tokenizer`` to fine-tune a given (e.g. pruned) model instead of loading ``cfg.model``;
    the caller must then put what makes it different into ``cfg`` (the cache key)."""
    from .heads import save_pretrained

    final = Path(cache or cache_root()) / "finetuned" / f"{cfg.model if not os.path.isdir(str(cfg.model)) else 'local'}-{cfg.task}-{cfg.language}-{cfg.key()}"
    if (final / "hpbench_train.json").is_file():
        return final
    from .cache import remove_stale_temp

    remove_stale_temp(final.parent)
    task = get_task(cfg.task)
    set_seed(cfg.seed)
    if model is None:
        model, tokenizer = load(cfg.model, task)
        if cfg.prune_mask is not None:
            from .heads import head_shape, mask_from_key, prune_heads

            prune_heads(model, mask_from_key(cfg.prune_mask, head_shape(model)))
    if cfg.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    train = task.load("train", language=cfg.language, n=cfg.n_train, seed=cfg.seed, data_root=data_root)
    enc = encode(task, tokenizer, train, cfg.max_len)
    t0 = time.perf_counter()
    losses = train_steps(model, task, enc, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                         warmup=cfg.warmup, weight_decay=cfg.weight_decay, pad_id=tokenizer.pad_token_id or 0,
                         desc=f"fine-tune {cfg.model}/{cfg.task}/{cfg.language} seed {cfg.seed}")
    tmp = atomic_dir(final)
    save_pretrained(model, tmp, tokenizer)
    atomic_write_json(tmp / "hpbench_train.json", {**asdict(cfg), "seconds": time.perf_counter() - t0,
                                                   "n_examples": len(enc), "final_loss": losses[-1]})
    commit_dir(tmp, final)
    return final
