"""Fine-tune a registered model on a task; checkpoints are cached by their full configuration."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..core import VERSION
from ..core.device import autocast, grad_scaler, model_device
from ..core.files import atomic_dir, atomic_write_json, cache_root, commit_dir, config_hash, locked, remove_stale_temp
from ..models.heads import head_shape, prune_heads, save_pretrained
from ..models.masks import mask_from_key
from ..models.registry import load, model_fingerprint
from ..tasks.encoding import batches, encode, model_inputs, pad_id_of
from ..tasks.kinds import encoding_key
from ..tasks.lookup import get_task
from ..tasks.spec import examples_digest


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
    precision: str = "fp32"  # autocast of the training forward (bf16/fp16 change the weights, so it is in the key)

    def key(self, data: str | None = None, encoding: dict | None = None) -> str:
        """Hash of the settings, the model's *content* (:func:`model_fingerprint`; never its install path),
        ``data``, the digest of the training examples actually used, and the task's ``encoding`` version key."""
        d = {**asdict(self), "train_data": data, **(encoding or {})}
        d["model"] = model_fingerprint(self.model)
        d["version"] = VERSION
        return config_hash(d)


def set_seed(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_factor(step: int, total: int, n_warm: int) -> float:
    """Linear warm-up over ``n_warm`` steps, then linear decay to 0 at ``total``."""
    return (step + 1) / max(1, n_warm) if step < n_warm else max(0.0, (total - step) / max(1, total - n_warm))


def train_steps(model, task, encoded, *, epochs: float, lr: float, batch_size: int, seed: int, warmup: float = 0.06,
                weight_decay: float = 0.01, pad_id: int = 0, desc: str = "fine-tune", precision: str = "fp32",
                log_every: int = 25) -> list[float]:
    """AdamW with linear warm-up and decay on the model's device, forward autocast to ``precision`` (fp16
    with loss scaling); returns the loss of every step. The progress bar shows the loss every
    ``log_every`` steps, the only host-device synchronisation in the loop."""
    device = model_device(model)
    total = max(1, int(round(epochs * math.ceil(len(encoded) / batch_size))))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": params, "lr": lr, "weight_decay": weight_decay}])
    scaler = grad_scaler(precision, device)
    n_warm = int(warmup * total)
    model.train()
    losses: list[torch.Tensor] = []
    epoch = 0
    with tqdm(total=total, desc=desc, leave=False) as bar:
        while len(losses) < total:
            for b in batches(encoded, batch_size, shuffle=True, seed=seed * 1000 + epoch, pad_id=pad_id):
                if len(losses) >= total:
                    break
                for g in opt.param_groups:
                    g["lr"] = lr * lr_factor(len(losses), total, n_warm)
                with autocast(device, precision):
                    out = model(**model_inputs(b, device))
                loss = task.loss_per_example(out.logits.float(), b["labels"].to(device)).mean()
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                scaler.step(opt)
                scaler.update()
                losses.append(loss.detach())
                bar.update(1)
                if len(losses) % log_every == 0:
                    bar.set_postfix(loss=f"{losses[-1].item():.3f}")
            epoch += 1
    model.eval()
    return torch.stack(losses).cpu().tolist()


def finetune(cfg: FinetuneConfig, *, data_root=None, cache: Path | None = None, device: torch.device | str = "cpu") -> Path:
    """Fine-tune on ``device`` (or reuse the cached checkpoint, wherever it was trained) and return the
    checkpoint folder; with ``epochs=0`` the pretrained model's own folder (no training: zero-shot kinds). The device is not part of the key: fp32 on another device differs only by rounding."""
    task = get_task(cfg.task)
    if cfg.epochs == 0:  # zero-shot: the pretrained model as it is (kinds that use the model's own head)
        from ..models.registry import resolve_model

        return Path(resolve_model(cfg.model))
    train = task.load("train", language=cfg.language, n=cfg.n_train, seed=cfg.seed, data_root=data_root)
    final = (Path(cache or cache_root()) / "finetuned"
             / f"{Path(str(cfg.model)).name}-{cfg.task}-{cfg.language}-{cfg.key(examples_digest(train), encoding_key(task))}")
    if (final / "hpbench_train.json").is_file():
        return final
    # cells sharing this model (score_language: each) wait for one fine-tuning (the lock lives beside the checkpoints)
    with locked(final.parent.parent / "locks" / f"finetuned-{final.name}.lock"):
        if not (final / "hpbench_train.json").is_file():
            _train_into(cfg, task, train, final, device)
    return final


def _train_into(cfg: FinetuneConfig, task, train: list, final: Path, device) -> None:
    """Fine-tune ``cfg.model`` on ``train`` and commit the checkpoint to ``final`` (atomically)."""
    remove_stale_temp(final.parent)
    set_seed(cfg.seed)
    model, tokenizer = load(cfg.model, task)
    if cfg.prune_mask is not None:
        prune_heads(model, mask_from_key(cfg.prune_mask, head_shape(model)))
    model.to(device)
    emb = model.get_input_embeddings()
    if cfg.freeze_word_embeddings and isinstance(emb, torch.nn.Embedding):  # (ViT's patch embedding is no vocabulary)
        emb.weight.requires_grad_(False)
    enc = encode(task, tokenizer, train, cfg.max_len)
    t0 = time.perf_counter()
    losses = train_steps(model, task, enc, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                         warmup=cfg.warmup, weight_decay=cfg.weight_decay, pad_id=pad_id_of(tokenizer),
                         desc=f"fine-tune {Path(str(cfg.model)).name}/{cfg.task}/{cfg.language} seed {cfg.seed}",
                         precision=cfg.precision)
    tmp = atomic_dir(final)
    save_pretrained(model, tmp, tokenizer, standard=False)  # hpbench reads its head layout back
    atomic_write_json(tmp / "hpbench_train.json", {**asdict(cfg), "train_data": examples_digest(train),
                                                   "seconds": time.perf_counter() - t0,
                                                   "n_examples": len(enc), "final_loss": losses[-1]})
    commit_dir(tmp, final)
