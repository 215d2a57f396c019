"""The benchmark for one model x task x language: fine-tune, score, mask, evaluate, tabulate.

For each seed and criterion it scores the heads once on a seed-dependent scoring subset of the
training split, builds masks at every sparsity (global ranking, one-shot or iterative) and
evaluates each mask on a fixed dev subset with the heads *physically pruned* (a pruned copy of
the fine-tuned model). Every finished (criterion, seed) scoring and every (criterion, seed,
sparsity) evaluation is stored under its configuration hash, so an interrupted run resumes.
"""
from __future__ import annotations

import copy
import dataclasses
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from . import __version__
from .batching import encode
from .criteria import ScoringContext, masks_for_sparsities, n_to_prune, parse_spec, validate_sparsities
from .datadir import data_dir
from .evaluation import EVAL_BATCH_SIZE, evaluate
from .finetune import FinetuneConfig, finetune, set_seed
from .flops import flops_for_heads
from .heads import from_pretrained, mask_from_key, mask_to_key, prune_heads
from .models import resolve_model
from .store import ResultStore
from .tasks import get_task

DEFAULT_SPARSITIES = [round(0.1 * i, 1) for i in range(10)]
FLOPS_SEQ = 128  # results carry each pruned model's encoder GFLOPs per sequence of this many tokens


@dataclass
class RunConfig:
    """Everything that defines one benchmark run (papermill parameters map onto these fields)."""

    model: str = "minilm"
    task: str = "sst2"
    language: str = "en"
    criteria: list[str] = field(default_factory=lambda: ["his", "entropy", "hies", "random"])
    sparsities: list[float] = field(default_factory=lambda: list(DEFAULT_SPARSITIES))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    iterative: bool = False
    finetune_per_seed: bool = False  # False: one fine-tuned model (seed 0); seeds vary the scoring data
    n_train: int | None = 4000
    epochs: float = 2.0
    lr: float = 1e-4
    batch_size: int = 32
    max_len: int = 128
    n_dev: int | None = None
    n_score: int = 256
    n_val: int = 256  # held-out validation subset of train (not used for fine-tuning) for search methods
    eval_batch_size: int = EVAL_BATCH_SIZE  # small length-sorted batches carry little padding
    results_dir: str = "results"
    data_root: str | None = None
    eval_languages: list[str] | None = None  # zero-shot: evaluate on these languages (default: [language])
    score_language: str | None = None  # score heads on this language's data (default: language)

    def validate(self) -> "RunConfig":
        resolve_model(self.model)
        task = get_task(self.task)
        if self.language not in task.languages:
            raise ValueError(f"unknown language {self.language!r} for task {self.task!r}; available: {', '.join(task.languages)}")
        for lang in (self.eval_languages or []) + ([self.score_language] if self.score_language else []):
            if lang not in task.languages:
                raise ValueError(f"unknown language {lang!r} for task {self.task!r}; available: {', '.join(task.languages)}")
        if isinstance(self.eval_languages, str):
            raise ValueError(f"eval_languages must be a list of language codes, got {self.eval_languages!r}")
        if isinstance(self.criteria, str) or not self.criteria:
            raise ValueError(f"criteria must be a non-empty list of criterion names, got {self.criteria!r}")
        for c in self.criteria:
            parse_spec(c)
        self.sparsities = validate_sparsities(self.sparsities)
        if isinstance(self.seeds, (int, str)) or not self.seeds:
            raise ValueError(f"seeds must be a non-empty list of integers, got {self.seeds!r}")
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int):
                raise ValueError(f"seed {s!r} is not an integer; seeds must be a list of integers, e.g. [0, 1, 2]")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} contain duplicates")
        for name in ("n_train", "n_dev"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise ValueError(f"{name} must be a positive integer or None (all), got {v!r}")
        for name in ("n_score", "n_val", "batch_size", "eval_batch_size", "max_len"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.epochs, (int, float)) or self.epochs <= 0:
            raise ValueError(f"epochs must be a positive number, got {self.epochs!r}")
        data_dir(self.data_root)  # raises if an explicit data directory does not exist
        from .cache import writable_dir

        writable_dir(self.results_dir)
        return self

    @property
    def run_id(self) -> str:
        rid = f"{Path(str(self.model)).name}-{self.task}-{self.language}"
        if self.eval_languages and list(self.eval_languages) != [self.language]:
            rid += "-zeroshot"
        if self.score_language and self.score_language != self.language:
            rid += f"-scored-{self.score_language}"
        return rid

    def finetune_config(self, seed: int) -> FinetuneConfig:
        return FinetuneConfig(self.model, self.task, self.language, seed, self.n_train, self.epochs, self.lr,
                              self.batch_size, self.max_len)


def n_pr_of(mkey: str) -> int:
    return mkey.count("0")


def total_heads(model) -> int:
    return model.config.num_hidden_layers * model.config.num_attention_heads


def heldout_validation(task, cfg: RunConfig, seed: int) -> list:
    """``n_val`` training examples that the fine-tuning subset did not use (search methods' validation data)."""
    train = task.load("train", language=cfg.language, data_root=cfg.data_root)
    ft_seed = seed if cfg.finetune_per_seed else cfg.seeds[0]
    used = set(random.Random(ft_seed).sample(range(len(train)), cfg.n_train)) if cfg.n_train and cfg.n_train < len(train) else set()
    rest = [i for i in range(len(train)) if i not in used] or list(range(len(train)))
    pick = sorted(random.Random(20_000 + seed).sample(rest, min(cfg.n_val, len(rest))))
    return [train[i] for i in pick]


def run_benchmark(cfg: RunConfig | None = None, **kwargs) -> dict[str, pd.DataFrame]:
    """Run (or resume) one model x task x language benchmark; return tidy tables.

    Returns ``{"results": one row per (criterion, seed, sparsity, eval language, metric), "scores": one row
    per (criterion, seed, layer, head), "masks": pruned-head sets, "run": per-seed run summary}`` and writes
    them as Parquet + CSV under ``<results_dir>/<run_id>/``. With ``eval_languages`` the model fine-tuned
    and scored on ``language`` is evaluated zero-shot on every listed language.
    """
    cfg = RunConfig(**{**(asdict(cfg) if cfg is not None else {}), **kwargs}).validate()
    task = get_task(cfg.task)
    out = Path(cfg.results_dir) / cfg.run_id
    store = ResultStore(out)
    eval_langs = cfg.eval_languages or [cfg.language]
    score_lang = cfg.score_language or cfg.language
    base = {"model": cfg.model, "task": cfg.task, "language": cfg.language, "n_dev": cfg.n_dev,
            "eval_languages": eval_langs, "score_language": score_lang, "version": __version__}
    dev_examples = {lang: task.load("dev", language=lang, n=cfg.n_dev, seed=12345, data_root=cfg.data_root)
                    for lang in eval_langs}

    ft_seeds = cfg.seeds if cfg.finetune_per_seed else [cfg.seeds[0]]
    checkpoints = {s: finetune(cfg.finetune_config(s), data_root=cfg.data_root) for s in ft_seeds}
    run_rows, rows, score_rows, mask_rows = [], [], [], []
    for seed in cfg.seeds:
        ft_seed = seed if cfg.finetune_per_seed else ft_seeds[0]
        model = from_pretrained(checkpoints[ft_seed])
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(checkpoints[ft_seed])
        pad = tok.pad_token_id or 0
        dev = {lang: encode(task, tok, ex, cfg.max_len) for lang, ex in dev_examples.items()}

        def evaluate_all(m) -> dict[str, dict[str, float]]:
            return {lang: evaluate(m, task, d, batch_size=cfg.eval_batch_size, pad_id=pad) for lang, d in dev.items()}

        ft_cfg = asdict(cfg.finetune_config(ft_seed))
        dense_cfg = {**base, "finetune": ft_cfg, "kind": "dense"}
        dense = store.get("dense", dense_cfg)
        if dense is None:
            full = {}
            if cfg.n_dev is not None:  # the unpruned model on the whole dev split too, for reference
                d0 = encode(task, tok, task.load("dev", language=eval_langs[0], data_root=cfg.data_root), cfg.max_len)
                full = evaluate(model, task, d0, batch_size=cfg.eval_batch_size, pad_id=pad)
            t0 = time.perf_counter()
            metrics0 = evaluate_all(model)
            dense = store.put("dense", dense_cfg, {"metrics": metrics0, "seconds": time.perf_counter() - t0, "full_dev": full,
                                                   "majority": {lang: majority_baseline(task, ex) for lang, ex in dev_examples.items()}})
        for lang, mets in dense["metrics"].items():
            run_rows.append({"seed": seed, "eval_language": lang, "dense_seconds": dense.get("seconds"),
                             **{f"dense_{k}": v for k, v in mets.items()},
                             **{f"majority_{k}": v for k, v in (dense.get("majority") or {}).get(lang, {}).items()},
                             **{f"dense_full_dev_{k}": v for k, v in (dense.get("full_dev") or {}).items()
                                if lang == eval_langs[0]}})
        contexts: dict[str, ScoringContext] = {}  # one per protocol: criteria share one scoring pass
        evaluated: dict[str, dict] = {mask_to_key(torch.ones(model.config.num_hidden_layers,
                                                           model.config.num_attention_heads, dtype=torch.bool)): dense["metrics"]}
        for spec in tqdm(cfg.criteria, desc=f"{cfg.run_id} seed {seed}", leave=False):
            crit, params = parse_spec(spec)
            ccfg = {**base, "finetune": ft_cfg, "criterion": crit.name, "params": params, "seed": seed,
                    "iterative": cfg.iterative, "n_score": cfg.n_score, "sparsities": cfg.sparsities}
            rec = store.get("scores", ccfg)
            own_models: dict = {}
            if rec is None:
                ctx = contexts.get(crit.protocol)
                if ctx is None:
                    ctx = contexts[crit.protocol] = _context(cfg, task, tok, model, seed, pad, crit.protocol, score_lang)
                ctx.info, ctx.extras["models_for_mask"] = {}, {}
                set_seed(seed)
                masks, scores, info = masks_for_sparsities(crit, params, ctx, cfg.sparsities, iterative=cfg.iterative)
                own_models = ctx.extras["models_for_mask"]
                info = {k: v for k, v in info.items() if isinstance(v, (int, float, str, bool)) or v is None}
                within = ctx.info.get("astar_within_bound")
                rec = store.put("scores", ccfg, {"scores": scores.tolist(),
                                                 "masks": {str(s): mask_to_key(m) for s, m in masks.items()}, "info": info,
                                                 "within_bound": {str(s): within.get(n_to_prune(total_heads(model), s))
                                                                  for s in cfg.sparsities} if within else None})
            L, H = len(rec["scores"]), len(rec["scores"][0])
            for layer in range(L):
                for head in range(H):
                    score_rows.append({"criterion": spec, "seed": seed, "score_language": score_lang, "layer": layer,
                                       "head": head, "score": rec["scores"][layer][head]})
            for s in cfg.sparsities:
                mkey = rec["masks"][str(s)]
                n_pr = n_pr_of(mkey)
                ecfg = {**ccfg, "sparsity": s, "mask": mkey}
                keep = mask_from_key(mkey, (L, H))
                ev = store.get("evals", ecfg)
                if ev is None:
                    t0 = time.perf_counter()
                    if crit.protocol == "prune-before-finetune" and n_pr > 0:
                        # SMP protocol: fine-tune the pruned *pretrained* model with the run's settings
                        ck = finetune(dataclasses.replace(cfg.finetune_config(ft_seed), prune_mask=mkey),
                                      data_root=cfg.data_root)
                        metrics = evaluate_all(from_pretrained(ck))
                    elif n_pr in own_models:  # e.g. DSP joint: weights trained together with this mask
                        metrics = evaluate_all(prune_heads(own_models[n_pr], keep))
                    elif mkey in evaluated:
                        metrics = evaluated[mkey]
                    else:
                        metrics = evaluate_all(prune_heads(copy.deepcopy(model), keep))
                    ev = store.put("evals", ecfg, {"metrics": metrics, "seconds": time.perf_counter() - t0})
                if crit.protocol == "prune-after-finetune" and n_pr not in own_models:
                    evaluated[mkey] = ev["metrics"]
                gflops = flops_for_heads(model.config, keep.sum(1).tolist(), 1, FLOPS_SEQ) / 1e9
                mask_rows.append({"criterion": spec, "seed": seed, "score_language": score_lang, "sparsity": s,
                                  "n_pruned": n_pr, "pruned": [i for i, c in enumerate(mkey) if c == "0"]})
                for lang, mets in ev["metrics"].items():
                    for metric, value in mets.items():
                        rows.append({"model": cfg.model, "task": cfg.task, "language": lang, "train_language": cfg.language,
                                     "score_language": score_lang, "criterion": spec, "protocol": crit.protocol,
                                     "seed": seed, "sparsity": s, "n_pruned": n_pr, "heads_total": L * H,
                                     "metric": metric, "value": value, "main": metric == task.main_metric,
                                     f"encoder_gflops_{FLOPS_SEQ}": gflops,
                                     "iterative": cfg.iterative, "score_seconds": rec["info"].get("score_seconds"),
                                     "eval_seconds": ev.get("seconds"),
                                     "within_bound": (rec.get("within_bound") or {}).get(str(s)),
                                     **{k: v for k, v in rec["info"].items() if k != "score_seconds"}})
    tables = {
        "results": pd.DataFrame(rows),
        "scores": pd.DataFrame(score_rows),
        "masks": pd.DataFrame(mask_rows),
        "run": pd.DataFrame([{**r, "model": cfg.model, "task": cfg.task, "language": cfg.language,
                              "main_metric": task.main_metric, "n_dev": len(dev_examples[r["eval_language"]]),
                              "n_score": cfg.n_score, "n_train": cfg.n_train, "epochs": cfg.epochs,
                              "iterative": cfg.iterative, "finetune_per_seed": cfg.finetune_per_seed,
                              "finetune_seconds": _train_seconds(checkpoints, r["seed"], cfg)} for r in run_rows]),
    }
    tables = merge_previous(tables, out, cfg)
    save_tables(tables, out)
    return tables


def majority_baseline(task, examples) -> dict[str, float]:
    """The task's metrics for always predicting the most frequent label (classification tasks only):
    an unpruned model that does not beat this has learned nothing worth pruning."""
    if task.kind != "classification":
        return {}
    from collections import Counter

    from .metrics import compute

    ys = [e.label for e in examples]
    top = Counter(ys).most_common(1)[0][0]
    return compute(task.metrics, ys, [top] * len(ys))


def _context(cfg: RunConfig, task, tok, model, seed: int, pad: int, protocol: str, score_lang: str) -> ScoringContext:
    """Scoring context of one seed: scoring subset (train split of the scoring language), held-out validation
    subset, and the model the protocol scores (the fine-tuned one, or the pretrained one for SMP)."""
    set_seed(seed)
    score_examples = encode(task, tok, task.load("train", language=score_lang, n=cfg.n_score, seed=10_000 + seed,
                                                 data_root=cfg.data_root), cfg.max_len)
    val = encode(task, tok, heldout_validation(task, cfg, seed), cfg.max_len)
    if protocol == "prune-before-finetune":
        from .models import load as load_model

        model = load_model(cfg.model, task)[0].eval()
    return ScoringContext(model, task, score_examples, seed=seed, batch_size=cfg.batch_size, pad_id=pad,
                          extras={"config": cfg, "validation": val, "tokenizer": tok})


_SAME_RUN = ["n_dev", "n_score", "n_train", "epochs", "iterative", "finetune_per_seed", "eval_language"]


def merge_previous(tables: dict[str, pd.DataFrame], out: Path, cfg: RunConfig) -> dict[str, pd.DataFrame]:
    """Keep the rows of criteria run earlier into the same folder with the same settings (so a later
    invocation with other criteria adds series instead of replacing them)."""
    import ast

    try:
        old_run = pd.read_csv(out / "run.csv")
    except (OSError, pd.errors.EmptyDataError):
        return tables
    new_run = tables["run"]
    if old_run.empty or any(str(old_run[c].iloc[0]) != str(new_run[c].iloc[0]) for c in _SAME_RUN if c in old_run):
        return tables
    merged = dict(tables)
    for name in ("results", "scores", "masks"):
        try:
            old = pd.read_csv(out / f"{name}.csv")
        except (OSError, pd.errors.EmptyDataError):
            continue
        old = old[~old["criterion"].isin(set(cfg.criteria))]
        if name == "masks" and len(old):
            old["pruned"] = old["pruned"].apply(ast.literal_eval)
        if len(old):
            merged[name] = pd.concat([old, tables[name]], ignore_index=True)
    return merged


def _train_seconds(checkpoints: dict, seed: int, cfg: RunConfig) -> float | None:
    import json

    ck = checkpoints.get(seed) or next(iter(checkpoints.values()))
    try:
        return json.loads((Path(ck) / "hpbench_train.json").read_text()).get("seconds")
    except OSError:
        return None


def save_tables(tables: dict[str, pd.DataFrame], out: Path) -> None:
    from .cache import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        atomic_write_bytes(out / f"{name}.csv", df.to_csv(index=False).encode())
        if name != "masks":
            import io

            buf = io.BytesIO()
            df.to_parquet(buf, index=False)
            atomic_write_bytes(out / f"{name}.parquet", buf.getvalue())


def load_tables(results_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Concatenate the tables of every run under ``results_dir``."""
    root = Path(results_dir)
    out: dict[str, list[pd.DataFrame]] = {"results": [], "scores": [], "run": []}
    for run in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        meta = run / "run.csv"
        if not meta.is_file():
            continue
        run_df = pd.read_csv(meta)
        out["run"].append(run_df)
        res = pd.read_csv(run / "results.csv")
        out["results"].append(res)
        sc = pd.read_csv(run / "scores.csv")
        sc["model"], sc["task"], sc["language"] = run_df["model"].iloc[0], run_df["task"].iloc[0], run_df["language"].iloc[0]
        out["scores"].append(sc)
    return {k: (pd.concat(v, ignore_index=True) if v else pd.DataFrame()) for k, v in out.items()}
