"""One model x task x language benchmark: prepare -> (per seed) score -> mask -> evaluate -> tabulate.

For each seed and criterion the heads are scored once on a seed-dependent scoring subset of the
training split, masks are built at every sparsity (global ranking, one-shot or iterative) and each
mask is evaluated on a fixed dev subset with the heads *physically pruned*. Every finished
(criterion, seed) scoring and (criterion, seed, sparsity) evaluation is stored under its configuration
hash, so an interrupted run resumes. The stages are in :mod:`hpbench.run.stages`.
"""
from __future__ import annotations

import pandas as pd
from tqdm.auto import tqdm

from ..core.files import locked
from .config import RunConfig
from .results import merge_previous, save_tables
from .stages import evaluate_masks, load_seed, prepare, score, tabulate


def run_benchmark(cfg: RunConfig | None = None, **params) -> dict[str, pd.DataFrame]:
    """Run (or resume) one benchmark; return its tidy tables (``results``, ``scores``, ``masks``, ``run``; see
    :mod:`hpbench.run.results`), also written as Parquet + CSV under ``<results_dir>/<run_id>/``.

    ``params`` override fields of ``cfg`` (an unknown name is an error). With ``eval_languages`` the model
    fine-tuned and scored on ``language`` is evaluated zero-shot on every listed language."""
    cfg = RunConfig.from_params(params, base=cfg).validate()
    prep = prepare(cfg)
    seed_models, outcomes = [], []
    shared: dict[int, dict] = {}  # fine-tuning seed -> mask key -> outcome: seeds sharing a model share evaluations
    for seed in cfg.seeds:
        sm = load_seed(prep, seed)
        sm.evaluated = shared.setdefault(cfg.finetune_seed(seed), sm.evaluated)
        seed_models.append(sm)
        contexts: dict = {}  # one scoring context per protocol: criteria share one scoring pass
        for spec in tqdm(cfg.criteria, desc=f"{cfg.run_id} seed {seed}", leave=False):
            scored = score(prep, sm, spec, contexts)
            outcomes.append((sm, scored, evaluate_masks(prep, sm, scored)))
    with locked(prep.out / ".tables.lock"):  # another run writing into this folder merges after or before, never between
        tables = merge_previous(tabulate(prep, seed_models, outcomes), prep.out, cfg.criteria)
        return save_tables(tables, prep.out)
