"""The stages of one benchmark run, each a function with typed inputs and outputs:

    prepare(cfg) -> Prepared                      data, fine-tuned checkpoints, result store
    load_seed(prep, seed) -> SeedModel            the fine-tuned model of a seed, encoded dev sets, unpruned metrics
    score(prep, sm, spec, contexts) -> Scored     a criterion's scores and keep masks (stored per criterion x seed)
    evaluate_masks(prep, sm, scored) -> {s: Evaluated}   each mask's physically pruned model on dev (stored)
    tabulate(prep, seed_models, outcomes) -> tables

:func:`hpbench.run.benchmark.run_benchmark` composes them. Each finished piece is stored in the
:class:`~hpbench.run.store.ResultStore` under the hash of everything it depends on, so a rerun resumes.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..core import VERSION
from ..core.device import device_record, reset_peak_memory
from ..criteria.base import Criterion, ScoringContext, parse_spec
from ..criteria.plan import PruningPlan, StoredPlan, pruned_by
from ..criteria.masks import masks_for_sparsities
from ..evaluation.evaluate import EvalBatches, eval_batches, evaluate, harness_predict, predict
from ..evaluation.evaluate import score as score_predictions
from ..models.flops import FLOPS_SEQ, flops_for_mask
from ..models.heads import from_pretrained, head_shape
from ..models.masks import mask_from_key, mask_to_key, n_pruned_of_key
from ..models.registry import load as load_model
from ..tasks.encoding import encode, length, pad_id_of
from ..tasks.kinds import encoding_key, kind_of, majority_baseline
from ..tasks.lookup import get_task
from ..tasks.spec import Example, Task, examples_digest, sample_indices
from .config import RunConfig
from .finetune import finetune, set_seed
from .recover import recovered
from .store import ResultStore

DEV_SEED, SCORE_SEED, VAL_SEED = 12345, 10_000, 20_000  # subset seeds: dev, scoring (+ seed), validation (+ seed)


@dataclass
class Prepared:
    cfg: RunConfig
    task: Task
    store: ResultStore
    out: Path
    dev_examples: dict[str, list[Example]]  # eval language -> dev subset
    checkpoints: dict[int, Path]  # fine-tuning seed -> checkpoint folder
    base: dict[str, Any]  # what every stored record of this run depends on
    dev_key: dict[str, Any]  # what evaluations also depend on: the dev subsets (size and content digest)

    @property
    def eval_languages(self) -> list[str]:
        return list(self.dev_examples)

    @property
    def score_language(self) -> str:
        return self.cfg.score_language or self.cfg.language


@dataclass
class SeedModel:
    seed: int
    model: Any
    tokenizer: Any
    pad_id: int
    dev: dict[str, list[dict]]  # eval language -> encoded dev subset
    ft_cfg: dict[str, Any]
    dense: dict[str, Any]  # stored record of the unpruned model: metrics, seconds, full_dev, majority
    evaluated: dict[str, "Outcome"] = field(default_factory=dict)  # mask key -> outcome, shared across criteria and seeds of one model
    batches: dict[str, EvalBatches] = field(default_factory=dict)  # eval language -> dev batches on the device
    scoring_data: tuple[list[Example], list[Example]] | None = None  # (scoring, validation) examples, loaded once
    train_record: dict[str, Any] = field(default_factory=dict)  # the checkpoint's hpbench_train.json
    dev_examples: dict[str, list[Example]] = field(default_factory=dict)  # eval language -> dev subset (harness kinds)

    def evaluate_all(self, model, cfg: RunConfig, task: Task) -> "Outcome":
        """Metrics and per-example predictions on every eval language's dev subset (batched once per seed,
        reused for every mask; kinds evaluated by an external harness get the examples themselves)."""
        out = Outcome({}, {}, {})
        kind = kind_of(task)
        for lang, d in self.dev.items():
            if kind.harness:
                ys, ps = harness_predict(model, task, self.tokenizer, self.dev_examples[lang], batch_size=cfg.eval_batch,
                                         precision=cfg.amp)
            else:
                if lang not in self.batches:
                    self.batches[lang] = eval_batches(d, cfg.eval_batch, self.pad_id, cfg.torch_device)
                ys, ps = predict(model, task, d, batch_size=cfg.eval_batch, pad_id=self.pad_id, precision=cfg.amp,
                                 prepared=self.batches[lang])
            out.metrics[lang], out.labels[lang], out.predictions[lang] = score_predictions(task, ys, ps), ys, ps
        return out


@dataclass
class Outcome:
    """One model's evaluation: eval language -> metrics, labels and per-example predictions (dev order), the
    per-example part being what bootstrap intervals and paired tests between criteria resample."""

    metrics: dict[str, dict[str, float]]
    labels: dict[str, list]
    predictions: dict[str, list]


@dataclass
class Scored:
    """A criterion's scores and its plan at every level (:class:`~hpbench.criteria.plan.StoredPlan`: mask keys, own
    weights or not, bound; the weights themselves when computed in this process)."""

    spec: str
    criterion: Criterion
    config: dict[str, Any]  # store key of the scores record
    scores: list[list[float]]  # [L][H]
    plans: dict[float, StoredPlan]  # sparsity -> plan
    info: dict[str, Any]

    @property
    def masks(self) -> dict[float, str]:
        return {s: p.mask for s, p in self.plans.items()}


@dataclass
class Evaluated:
    metrics: dict[str, dict[str, float]]  # eval language -> metric -> value
    seconds: float | None
    predictions: dict[str, list] = field(default_factory=dict)  # eval language -> per-example predictions


def prepare(cfg: RunConfig) -> Prepared:
    """Validated settings, the dev subsets and every fine-tuned checkpoint the run needs."""
    task = get_task(cfg.task)
    out = Path(cfg.results_dir) / cfg.run_id
    eval_langs = cfg.eval_languages or [cfg.language]
    dev = {lang: task.load("dev", language=lang, n=cfg.n_dev, seed=DEV_SEED, data_root=cfg.data_root) for lang in eval_langs}
    base = {"model": cfg.model, "task": cfg.task, "language": cfg.language, "eval_languages": eval_langs,
            "score_language": cfg.score_language or cfg.language, "version": VERSION, "precision": cfg.amp,
            **encoding_key(task)}
    dev_key = {"n_dev": cfg.n_dev, "dev_data": {lang: examples_digest(ex) for lang, ex in dev.items()},
               **encoding_key(task)}
    ft_seeds = sorted({cfg.finetune_seed(s) for s in cfg.seeds}, key=cfg.seeds.index)
    reset_peak_memory(cfg.torch_device)
    checkpoints = {s: finetune(cfg.finetune_config(s), data_root=cfg.data_root, device=cfg.torch_device) for s in ft_seeds}
    return Prepared(cfg, task, ResultStore(out), out, dev, checkpoints, base, dev_key)


def load_seed(prep: Prepared, seed: int) -> SeedModel:
    """The fine-tuned model used by ``seed``, its encoded dev sets and the unpruned model's stored metrics."""
    cfg, task = prep.cfg, prep.task
    ck = prep.checkpoints[cfg.finetune_seed(seed)]
    model, tok = from_pretrained(ck).to(cfg.torch_device), kind_of(task).load_processor(str(ck))
    dev = {lang: encode(task, tok, ex, cfg.max_len) for lang, ex in prep.dev_examples.items()}
    trained = ck / "hpbench_train.json"
    record = json.loads(trained.read_text()) if trained.is_file() else {"seconds": 0.0, "pretrained": str(ck)}
    sm = SeedModel(seed, model, tok, pad_id_of(tok), dev,
                   {**asdict(cfg.finetune_config(seed)), "train_data": record.get("train_data")}, {}, train_record=record,
                   dev_examples=prep.dev_examples)
    key = {**prep.base, **prep.dev_key, "finetune": sm.ft_cfg, "kind": "dense"}
    rec = prep.store.get("dense", key)
    sm.dense = rec if rec is not None and "predictions" in rec else prep.store.put("dense", key, _dense_record(prep, sm))
    sm.evaluated[mask_to_key(torch.ones(head_shape(model), dtype=torch.bool))] = Outcome(
        sm.dense["metrics"], sm.dense["labels"], sm.dense["predictions"])
    return sm


def _dense_record(prep: Prepared, sm: SeedModel) -> dict[str, Any]:
    cfg, task = prep.cfg, prep.task
    full = {}
    if cfg.n_dev is not None and cfg.full_dev:  # the unpruned model on the whole dev split too, for reference
        whole = task.load("dev", language=prep.eval_languages[0], data_root=cfg.data_root)
        kind = kind_of(task)
        if kind.harness:
            full = score_predictions(task, *harness_predict(sm.model, task, sm.tokenizer, whole, batch_size=cfg.eval_batch,
                                                            precision=cfg.amp))
        else:
            full = evaluate(sm.model, task, encode(task, sm.tokenizer, whole, cfg.max_len), batch_size=cfg.eval_batch,
                            pad_id=sm.pad_id, precision=cfg.amp)
    t0 = time.perf_counter()
    out = sm.evaluate_all(sm.model, cfg, task)
    return {"metrics": out.metrics, "labels": out.labels, "predictions": out.predictions,
            "seconds": time.perf_counter() - t0, "full_dev": full,
            "majority": {lang: majority_baseline(task, ex) for lang, ex in prep.dev_examples.items()}}


def heldout_validation(prep: Prepared, seed: int) -> list[Example]:
    """``n_val`` training examples that the fine-tuning subset did not use (search methods' validation data).
    The fine-tuning subset is recomputed with :func:`sample_indices`, the function ``Task.load`` samples with."""
    cfg = prep.cfg
    train = prep.task.load("train", language=cfg.language, data_root=cfg.data_root)
    used = set(sample_indices(len(train), cfg.n_train, cfg.finetune_seed(seed))) if cfg.n_train else set()
    if len(used) == len(train):
        used = set()
    rest = [i for i in range(len(train)) if i not in used] or list(range(len(train)))
    pick = sample_indices(len(rest), min(cfg.n_val, len(rest)), VAL_SEED + seed)
    return [train[rest[i]] for i in pick]


def scoring_data(prep: Prepared, seed: int) -> tuple[list[Example], list[Example]]:
    """(scoring subset of the scoring language's train split, held-out validation subset) of ``seed``."""
    cfg = prep.cfg
    examples = prep.task.load("train", language=prep.score_language, n=cfg.n_score, seed=SCORE_SEED + seed,
                              data_root=cfg.data_root)
    return examples, heldout_validation(prep, seed)


def scoring_context(prep: Prepared, sm: SeedModel, protocol: str, data: tuple[list[Example], list[Example]]) -> ScoringContext:
    """Scoring and validation examples encoded, and the model the protocol scores (the fine-tuned one, or the
    pretrained one for prune-before-finetune)."""
    cfg, task = prep.cfg, prep.task
    set_seed(sm.seed)
    examples, heldout = data
    val = encode(task, sm.tokenizer, heldout, cfg.max_len)
    model = load_model(cfg.model, task)[0].eval().to(cfg.torch_device) if protocol == "prune-before-finetune" else sm.model
    def train_sample(n: int) -> list[dict]:
        ex = task.load("train", language=prep.score_language, n=n, seed=SCORE_SEED + sm.seed, data_root=cfg.data_root)
        return encode(task, sm.tokenizer, ex, cfg.max_len)

    def train_draw(n: int, rule) -> list[dict]:  # a method's own sampling rule over the whole train split
        train = task.load("train", language=prep.score_language, data_root=cfg.data_root)
        return encode(task, sm.tokenizer, [train[i] for i in rule(len(train), n, sm.seed)], cfg.max_len)

    dev = sm.dev.get(cfg.language) or next(iter(sm.dev.values()), [])
    extras = {"config": cfg, "train_sample": train_sample, "train_draw": train_draw}
    if dev:
        extras["dev_avg_len"] = sum(length(e) for e in dev) / len(dev)
    return ScoringContext(model, task, encode(task, sm.tokenizer, examples, cfg.max_len), seed=sm.seed,
                          batch_size=cfg.batch_size, pad_id=sm.pad_id, validation=val, tokenizer=sm.tokenizer,
                          precision=cfg.amp, extras=extras)


def score(prep: Prepared, sm: SeedModel, spec: str, contexts: dict[str, ScoringContext]) -> Scored:
    """A criterion's head scores and keep masks at every sparsity (stored; recomputed only when missing).
    ``contexts`` holds one scoring context per protocol, so criteria share one scoring pass."""
    cfg = prep.cfg
    crit, params = parse_spec(spec)
    if sm.scoring_data is None:
        sm.scoring_data = scoring_data(prep, sm.seed)
    data = sm.scoring_data
    key = {**prep.base, "finetune": sm.ft_cfg, "criterion": crit.name, "code": crit.source_digest, "params": params,
           "seed": sm.seed, "iterative": cfg.iterative, "n_score": cfg.n_score, "sparsities": cfg.sparsities,
           **({"gqa_unit": cfg.gqa_unit, "layer_uniform": cfg.layer_uniform} if cfg.structured_units else {}),
           "score_data": examples_digest(data[0]), "validation_data": examples_digest(data[1])}
    rec = prep.store.get("scores", key)
    own: dict[float, Any] = {}
    if rec is not None and "own_model_levels" not in rec and (crit.mask_fn or crit.compensate):
        rec = None  # (a record of hpbench < 0.5 does not say which levels were evaluated with their own weights)
    if rec is not None and any(prep.store.get("evals", _eval_key(prep, key, float(s), rec["masks"][s])) is None
                               for s in rec.get("own_model_levels") or []):
        rec = None  # a level's own weights are needed again (interrupted before its evaluation was stored)
    if rec is None:
        if crit.protocol not in contexts:
            contexts[crit.protocol] = scoring_context(prep, sm, crit.protocol, data)
        set_seed(sm.seed)
        cm = masks_for_sparsities(crit, params, contexts[crit.protocol], cfg.sparsities, iterative=cfg.iterative,
                                  gqa_unit=cfg.gqa_unit, layer_uniform=cfg.layer_uniform)
        own = {s: p.weights for s, p in cm.levels.items() if p.weights is not None}
        rec = prep.store.put("scores", key, _scores_record(cm.scores, cm.levels, cm.info))
    return Scored(spec, crit, key, rec["scores"], _plans_of(rec, own), rec["info"])


def _scores_record(scores: torch.Tensor, plans: dict[float, PruningPlan], info: dict) -> dict[str, Any]:
    """The stored record: scores, info and each level's plan record (one key per field, as stored since 0.5)."""
    recs = {str(s): p.record() for s, p in plans.items()}
    within = {s: r["within_bound"] for s, r in recs.items()}
    return {"scores": scores.tolist(), "masks": {s: r["mask"] for s, r in recs.items()}, "info": info,
            "within_bound": within if any(v is not None for v in within.values()) else None,
            "own_model_levels": [s for s, r in recs.items() if r["own_weights"]],
            "ffn_masks": {s: r["ffn_mask"] for s, r in recs.items() if r["ffn_mask"] is not None} or None}


def _plans_of(rec: dict[str, Any], weights: dict[float, Any]) -> dict[float, StoredPlan]:
    """Each level's plan from a stored scores record (``weights``: the levels' own weights computed just now)."""
    own, within, ffn = set(rec.get("own_model_levels") or []), rec.get("within_bound") or {}, rec.get("ffn_masks") or {}
    return {float(s): StoredPlan(k, ffn.get(s), s in own, within.get(s), weights.get(float(s)))
            for s, k in rec["masks"].items()}


EVAL_VERSION = 2


def _eval_key(prep: Prepared, scores_key: dict, sparsity: float, mkey: str) -> dict[str, Any]:
    """An evaluation depends on what its mask depends on, plus the dev subsets. ``EVAL_VERSION`` 2: before it, a
    criterion whose levels carry their own weights (l0, kwon's tuned masks, DSP joint, FLAP), loaded from the store,
    lent those evaluations to any later criterion with the same mask; every stored evaluation is recomputed once."""
    cfg = prep.cfg
    rec = {} if cfg.recovery == "none" else {"recovery": cfg.recovery, "recovery_steps": cfg.recovery_steps,
                                              "recovery_lr": cfg.recovery_lr, "recovery_n": cfg.recovery_n}
    return {**scores_key, **prep.dev_key, "sparsity": sparsity, "mask": mkey, **rec, "eval_version": EVAL_VERSION}


def evaluate_masks(prep: Prepared, sm: SeedModel, sc: Scored) -> dict[float, Evaluated]:
    """Each sparsity's mask evaluated on dev with the heads *physically pruned* (stored per mask)."""
    out = {}
    for s, plan in sc.plans.items():
        mkey = plan.mask
        key = _eval_key(prep, sc.config, s, mkey)
        rec = prep.store.get("evals", key)
        if rec is None or "predictions" not in rec:  # (records of hpbench < 0.4 hold no per-example predictions)
            t0 = time.perf_counter()
            o = _outcome_of_plan(prep, sm, sc.criterion.protocol, plan)
            rec = prep.store.put("evals", key, {"metrics": o.metrics, "predictions": o.predictions,
                                                "seconds": time.perf_counter() - t0})
        if _shared(sc.criterion.protocol, plan):  # only the fine-tuned model's evaluations are lent to others
            sm.evaluated[mkey] = Outcome(rec["metrics"], sm.dense["labels"], rec["predictions"])
        out[s] = Evaluated(rec["metrics"], rec.get("seconds"), rec["predictions"])
    return out


def _shared(protocol: str, plan: StoredPlan) -> bool:
    """Whether a plan's evaluation is the fine-tuned model's with its mask, so other criteria with the same mask may
    reuse it: not when the plan has its own weights or neurons, nor when the pruned model is fine-tuned anew."""
    return (not plan.own_weights and "0" not in (plan.ffn_mask or "")
            and (protocol == "prune-after-finetune" or n_pruned_of_key(plan.mask) == 0))


def _outcome_of_plan(prep: Prepared, sm: SeedModel, protocol: str, plan: StoredPlan) -> Outcome:
    """The evaluation of one plan's pruned model: the plan's own weights (or the fine-tuned model) pruned as the plan
    says (:func:`~hpbench.criteria.plan.pruned_by`), recovered when the run asks for it; the pruned pretrained
    model fine-tuned anew (prune-before-finetune). Plans on the fine-tuned model alone are evaluated once per mask
    and model: seeds that share the model share the evaluation."""
    cfg, shape = prep.cfg, head_shape(sm.model)
    pruned_any = n_pruned_of_key(plan.mask) > 0
    if _shared(protocol, plan) and plan.mask in sm.evaluated:
        return sm.evaluated[plan.mask]
    if protocol == "prune-before-finetune" and pruned_any:
        ck = finetune(dataclasses.replace(cfg.finetune_config(sm.seed), prune_mask=plan.mask), data_root=cfg.data_root,
                      device=cfg.torch_device)
        return sm.evaluate_all(from_pretrained(ck).to(cfg.torch_device), cfg, prep.task)
    if cfg.recovery != "none" and pruned_any and protocol == "prune-after-finetune":
        keep = mask_from_key(plan.mask, shape)
        out = sm.evaluate_all(recovered(prep, sm, plan.weights if plan.weights is not None else sm.model, keep), cfg,
                              prep.task)
    else:
        with pruned_by(sm.model, plan, shape) as m:
            out = sm.evaluate_all(m, cfg, prep.task)
    if _shared(protocol, plan):
        sm.evaluated[plan.mask] = out
    return out


def tabulate(prep: Prepared, seed_models: list[SeedModel], outcomes: list[tuple[SeedModel, Scored, dict[float, Evaluated]]]
             ) -> dict[str, pd.DataFrame]:
    """The tidy tables (see :mod:`hpbench.run.results`) of this invocation."""
    results, scores, masks, preds = [], [], [], []
    for sm, sc, evals in outcomes:
        results += _result_rows(prep, sm, sc, evals)
        preds += [{"criterion": sc.spec, "seed": sm.seed, "score_language": prep.score_language, "sparsity": s,
                   "language": lang, "y_true": json.dumps(sm.dense["labels"][lang]), "y_pred": json.dumps(p)}
                  for s, ev in evals.items() for lang, p in ev.predictions.items()]
        scores += [{"criterion": sc.spec, "seed": sm.seed, "score_language": prep.score_language, "layer": layer,
                    "head": head, "score": v} for layer, row in enumerate(sc.scores) for head, v in enumerate(row)]
        masks += [{"criterion": sc.spec, "seed": sm.seed, "score_language": prep.score_language, "sparsity": s,
                   "n_pruned": n_pruned_of_key(p.mask), "mask": p.mask, "ffn_n_pruned": n_pruned_of_key(p.ffn_mask or ""),
                   "ffn_mask": p.ffn_mask or ""} for s, p in sc.plans.items()]
    hw = device_record(prep.cfg.torch_device, prep.cfg.amp)
    run = [{**row, **hw} for sm in seed_models for row in _run_rows(prep, sm)]
    return {"results": pd.DataFrame(results), "scores": pd.DataFrame(scores), "masks": pd.DataFrame(masks),
            "run": pd.DataFrame(run), "predictions": pd.DataFrame(preds)}


def _result_rows(prep: Prepared, sm: SeedModel, sc: Scored, evals: dict[float, Evaluated]) -> list[dict]:
    cfg, L, H = prep.cfg, len(sc.scores), len(sc.scores[0])
    kv = int(getattr(sm.model.config, "num_key_value_heads", None) or H)  # (groups of H / kv query heads share a KV head)
    rows = []
    dense = flops_for_mask(sm.model.config, torch.ones(L, H, dtype=torch.bool), 1, FLOPS_SEQ)
    for s, ev in evals.items():
        plan = sc.plans[s]
        keep = mask_from_key(plan.mask, (L, H))
        fkey = plan.ffn_mask
        ffn = None if fkey is None else mask_from_key(fkey, (L, len(fkey) // L))
        flops = flops_for_mask(sm.model.config, keep, 1, FLOPS_SEQ, None if ffn is None else ffn.sum(1).tolist())
        common = {"model": cfg.model, "task": cfg.task, "train_language": cfg.language,
                  "score_language": prep.score_language, "criterion": sc.spec, "protocol": sc.criterion.protocol,
                  "seed": sm.seed, "sparsity": s, "n_pruned": int((~keep).sum()), "heads_total": L * H,
                  "pruned_share": int((~keep).sum()) / (L * H), "kv_pruned_share": kv_pruned_share(keep, kv),
                  "query_heads_per_kv": H // kv,
                  "gqa_unit": cfg.gqa_unit, "layer_uniform": cfg.layer_uniform,
                  "recovery": cfg.recovery,
                  f"encoder_gflops_{FLOPS_SEQ}": flops / 1e9, "flops_pruned_share": 1 - flops / dense,
                  "budget": plan.budget,
                  "ffn_pruned_share": 0.0 if ffn is None else float((~ffn).float().mean()),
                  "iterative": cfg.iterative, "score_seconds": sc.info.get("score_seconds"), "eval_seconds": ev.seconds,
                  "within_bound": plan.within_bound,
                  **{k: sc.info[k] for k in sorted(sc.info) if k != "score_seconds"}}  # (sorted: as a resumed record)
        rows += [{**common, "language": lang, "metric": metric, "value": value, "main": metric == prep.task.main_metric}
                 for lang, mets in ev.metrics.items() for metric, value in mets.items()]
    return rows


def kv_pruned_share(keep: torch.Tensor, n_kv: int) -> float:
    """Share of KV heads gone (a KV head goes when every query head of its group is pruned): the share of the KV cache
    a decoder no longer holds. ``keep`` ``[L, H]``, groups of H / n_kv consecutive query heads."""
    L, H = keep.shape
    return int((~keep.view(L, n_kv, H // n_kv).any(-1)).sum()) / (L * n_kv)


def _run_rows(prep: Prepared, sm: SeedModel) -> list[dict]:
    cfg, d = prep.cfg, sm.dense
    rows = []
    for lang, mets in d["metrics"].items():
        full = (d.get("full_dev") or {}) if lang == prep.eval_languages[0] else {}
        rows.append({"model": cfg.model, "task": cfg.task, "language": cfg.language, "seed": sm.seed,
                     "eval_language": lang, "main_metric": prep.task.main_metric, "n_dev": len(prep.dev_examples[lang]),
                     "dev_subset": cfg.n_dev is not None,
                     "n_score": cfg.n_score, "n_train": cfg.n_train, "epochs": cfg.epochs, "iterative": cfg.iterative,
                     "finetune_per_seed": cfg.finetune_per_seed, "finetune_seconds": sm.train_record.get("seconds"),
                     "gqa_unit": cfg.gqa_unit, "layer_uniform": cfg.layer_uniform, "recovery": cfg.recovery,
                     "dense_seconds": d.get("seconds"), **{f"dense_{k}": v for k, v in mets.items()},
                     **{f"majority_{k}": v for k, v in (d.get("majority") or {}).get(lang, {}).items()},
                     **{f"dense_full_dev_{k}": v for k, v in full.items()}})
    return rows

