"""Small helpers that notebooks call to describe runs in Markdown."""
from __future__ import annotations

import re

from pathlib import Path

import pandas as pd

from ..models.tiny import is_tiny
from ..tasks.lookup import get_task, task_label
from ..tasks.metrics import direction
from .escape import code, esc
from .intervals import NO_SKILL


def _hies_note() -> str:
    return ("`hies` is the HIES paper's Eq. 1 (arXiv 2510.13832 v2): alpha·minmax(HIS) + (1−alpha)·(1 − minmax(AE)), AE the "
            "attention entropy averaged over non-padding tokens and divided by log n, on 32 calibration examples, global "
            "min-max; alpha chosen per seed on held-out training examples (column `alpha`). `l2` (head weight norm) and "
            "`ad` (1 − AE) are the paper's baselines; `hies_recon` is hpbench's earlier abstract-only reconstruction. "
            "The paper's headline (+15.2 % quality, 2.04× stability over HIS) is CoLA at 50 % pruned: see the claims rows.")


def _smp_note() -> str:
    return ("`smp` follows the authors' released design (thunlp/SMP; hpbench's own code): a CNN over attention maps "
            "trained so the pruned *pretrained* model keeps the similarity distribution of sentence representations, "
            "per-layer selection, then fine-tuning. `smp_distance` is hpbench's earlier, simpler reconstruction "
            "(one logit per head, global top-K, token-state distance). Both prune before fine-tuning.")


def _num(v, fmt: str = ".4f") -> str:
    """A number for Markdown; "n/a" for a missing one (None or NaN, e.g. results stored by an older version)."""
    return "n/a" if v is None or v != v else format(v, fmt)


def _hardware(run) -> str:
    """Which device and precision produced the numbers (runs stored before the device setting: unknown)."""
    if "precision" not in run or run.get("precision") is None:
        return "* **Computed on**: not recorded (results stored by an older hpbench)."
    peak = run.get("peak_accelerator_mib")
    return (f"* **Computed on**: {run.get('device_name')} ({run.get('device')}), precision **{run.get('precision')}**, "
            f"torch {run.get('torch_version')}" + (f", CUDA {run.get('cuda_version')}" if run.get("cuda_version") else "")
            + (f"; peak accelerator memory {_num(peak, '.0f')} MiB" if peak == peak and peak is not None else "") + ".")


def _model_description(name: str) -> str:
    """The registry's description of a named model ("" for a local folder): e.g. "dequantised from 4-bit GGUF"."""
    from ..models.registry import MODELS

    return MODELS.get(name).description if name in MODELS else ""


def _finetune_line(cfg, run) -> str:
    if cfg.epochs == 0:
        return ("* **No fine-tuning** (epochs 0): the pretrained model is pruned and evaluated as it is (zero-shot); "
                f"max length {cfg.max_len} for scoring.")
    return (f"* **Fine-tuning**: {cfg.n_train or 'all'} training examples, {cfg.epochs} epoch(s), lr {cfg.lr}, "
            f"batch {cfg.batch_size}, max length {cfg.max_len}; {_num(run.get('finetune_seconds'), '.0f')} s.")


def run_header(cfg, tables: dict[str, pd.DataFrame]) -> str:
    task = get_task(cfg.task)
    run = tables["run"].iloc[0]
    # the unpruned model's metrics on the dev subset (not its timing, not the whole-dev reference)
    dense = {k[len("dense_"):]: v for k, v in run.items()
             if str(k).startswith("dense_") and k != "dense_seconds" and not str(k).startswith("dense_full_dev_")}
    full = {k[len("dense_full_dev_"):]: v for k, v in run.items() if str(k).startswith("dense_full_dev_")}
    d = direction(task.main_metric)
    seeds_note = ("one fine-tuned model per seed" if cfg.finetune_per_seed else
                  "one fine-tuned model (seed %d); seeds vary the scoring subset (and the random baseline)" % cfg.seeds[0])
    return "\n".join([
        f"# {esc(cfg.model)} on {esc(task.description or cfg.task)} ({esc(cfg.language)})",
        "",
        *([tiny_warning(cfg.model), ""] if is_tiny(cfg.model) else []),
        *([f"*Model*: {esc(_model_description(cfg.model))}.", ""] if _model_description(cfg.model) else []),
        _finetune_line(cfg, run),
        f"* **Evaluation**: dev split, {'all' if cfg.n_dev is None else f'a fixed random subset of {int(run.n_dev)}'} "
        f"examples; main metric **{task.main_metric}** ({d.label}; one point = {d.point:g}). Unpruned model: "
        + ", ".join(f"{k} = {_num(v)}" for k, v in dense.items())
        + ("" if not full else " (whole dev split: " + ", ".join(f"{k} = {_num(v)}" for k, v in full.items()) + ")") + ".",
        f"* **Scoring**: {cfg.n_score} training examples per seed; seeds {cfg.seeds}: {seeds_note}.",
        f"* **Pruning**: global ranking, {'iterative re-scoring (Michel et al.)' if cfg.iterative else 'one-shot'}; "
        f"sparsities {', '.join(f'{int(round(100 * s))}%' for s in cfg.sparsities)} of heads; pruned models are "
        "physically pruned (smaller Q/K/V/O matrices), not masked." + _budget_note(tables),
        _hardware(run),
        f"* **Criteria**: {esc(', '.join(cfg.criteria))}. HIS = E_x|dL/dξ_h| with per-layer L2 normalisation; entropy keeps "
        "low-entropy heads. " + _hies_note(),
    ])


def _budget_note(tables: dict[str, pd.DataFrame]) -> str:
    """The criteria that read the levels as shares of FLOPs (searched under a FLOPs budget), or ""."""
    res = tables.get("results")
    if res is None or "budget" not in res or not (res["budget"] == "flops").any():
        return ""
    names = ", ".join(code(c) for c in dict.fromkeys(res.loc[res["budget"] == "flops", "criterion"]))
    return (f" {names} read the same levels as shares of the encoder's FLOPs removed (heads and FFN neurons pruned "
            "together): left out of the views at % of heads, compared at equal FLOPs in their own section.")


def tiny_warning(model: str) -> str:
    """The label every report puts on a tiny random-init model's results."""
    return (f"**{esc(model)} is a tiny, randomly initialised model trained from scratch here (no pretrained weights of "
            "this architecture are available offline): its numbers show that the pipeline works for this "
            "architecture and task kind; they are no finding about pruning real models.**")


def _computed_on(g: pd.DataFrame) -> str:
    """Device name and precision of a run's rows ("not recorded" for runs stored before they were)."""
    if "precision" not in g or g["precision"].isna().all():
        return "not recorded"
    return ", ".join(sorted({f"{d} ({p})" for d, p in zip(g["device_name"], g["precision"])}))


_VARIANT_WORDS = {"ftseeds": "fine-tuning seeds", "zeroshot": "zero-shot", "uniform": "layer-uniform",
                  "group": "unit: group", "balanced": "unit: balanced"}


def variant_of(run_id: str, model: str, task: str, language: str, eval_language: str | None = None) -> str:
    """The settings a run id adds to ``<model>-<task>-<language>`` (pruning unit, recovery, fine-tuning seeds, ...),
    in words; "" for the plain run. Runs of one model x task that differ in them are told apart by it. With
    ``eval_language`` a zero-shot run's row on its own training language is not called zero-shot, and another
    language's says where it transfers from."""
    base = f"{Path(str(model)).name}-{task_label(task)}-{language}"
    if not isinstance(run_id, str) or not run_id.startswith(base):
        return ""
    rest = run_id[len(base):].lstrip("-")
    rest = re.sub(r"rec-([A-Za-z0-9_]+)", lambda m: "recovery: " + m.group(1), rest)
    rest = re.sub(r"scored-([A-Za-z_]+)", lambda m: "heads scored on " + m.group(1), rest)
    parts = re.split(r"-(?=[a-z])", rest) if rest else []
    words = {**_VARIANT_WORDS}
    if eval_language is not None:
        words["zeroshot"] = "" if eval_language == language else f"zero-shot from {language}"
    return ", ".join(w for w in (words.get(p, p) for p in parts) if w)


def comparison_header(t: dict[str, pd.DataFrame]) -> str:
    if t["run"].empty:
        return "No finished runs found."
    r = t["run"]
    lines = ["| model | task | language | setting | main metric | unpruned, dev used | unpruned, whole dev | majority-class baseline | dev examples | train examples | epochs | computed on |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    warn = []
    keys = ["model", "task", "language"] + (["run_id"] if "run_id" in r else [])
    for kv, g in r.groupby(keys):
        m, task, lang = kv[:3]
        setting = variant_of(kv[3], m, task, lang) if len(kv) > 3 else ""
        mm = g["main_metric"].iloc[0]
        d = direction(mm)
        dense = g[f"dense_{mm}"].mean()
        full = g[f"dense_full_dev_{mm}"].dropna().mean() if f"dense_full_dev_{mm}" in g else float("nan")
        base = g[f"majority_{mm}"].mean() if f"majority_{mm}" in g else float("nan")
        base_txt = f"{base:.4f}" if base == base else (f"{NO_SKILL[mm]:.4f} (no skill)" if mm in NO_SKILL else "none")
        subset = "dev_subset" in g and bool(g["dev_subset"].fillna(False).astype(bool).any())
        full_txt = f"{full:.4f}" if full == full else ("not evaluated (full_dev off)" if subset else "the same (whole dev used)")
        n_train = g["n_train"].iloc[0]
        trained = "none (pretrained, epochs 0)" if g["epochs"].iloc[0] == 0 else "all" if pd.isna(n_train) else int(n_train)
        lines.append(f"| {esc(m)} | {esc(task)} | {esc(lang)} | {esc(setting or 'default')} | {esc(mm)} ({'↑' if d.higher_is_better else '↓'}) | {dense:.4f} | {full_txt} | {base_txt} | "
                     f"{int(g['n_dev'].iloc[0])} | {trained} | "
                     f"{g['epochs'].iloc[0]} | {_computed_on(g)} |")
        if base == base and d.sign * (dense - base) <= d.point:
            warn.append(esc(f"{m}/{task}/{lang}"))
    note = "".join("\n\n" + tiny_warning(m) for m in sorted({m for m in r["model"] if is_tiny(m)}))
    if warn:
        note += ("\n\n**Warning**: the unpruned model does not beat the majority-class baseline on "
                 + ", ".join(warn) + ": its pruning curves say little (train longer or on more data).")
    return "\n".join(lines) + note + "\n\n" + _hies_note() + "\n\n" + _smp_note()


def failed_cells(status_csv: str) -> str:
    if not status_csv or not Path(status_csv).is_file():
        return ""
    s = pd.read_csv(status_csv)
    bad = s[s["status"] != "ok"]
    if bad.empty:
        return f"All {len(s)} grid cells finished."
    rows = "\n".join(f"| {esc(r.run_id)} | {esc(r.status)} | {code(str(r.error)[:300])} |" for r in bad.itertuples())
    return f"**{len(bad)} of {len(s)} grid cells failed** (their executed notebooks are linked from index.html):\n\n| run | status | error |\n|---|---|---|\n{rows}"


def crosslingual_tables(tables: dict[str, pd.DataFrame]) -> dict:
    """Results of zero-shot runs and masks of every run (for cross-language head overlap), with a header;
    ``tables`` from :func:`hpbench.run.results.load_tables`."""
    res = tables["results"]
    # heads scored on the training language (runs that scored on another language: the comparison's language section)
    results = res[res["run_id"].str.contains("-zeroshot") & ~res["run_id"].str.contains("-scored-")] if len(res) else res
    masks = tables["masks"]
    lines = ["# Cross-lingual head pruning", ""]
    if results.empty:
        lines.append("No zero-shot runs found.")
    else:
        for (m, t, tl), g in results.groupby(["model", "task", "train_language"]):
            task = get_task(t)
            langs = ", ".join(sorted(g["language"].unique()))
            lines.append(f"* **{esc(m)} / {esc(t)}**: {esc(task.description)}. Fine-tuned and scored on **{esc(tl)}**, "
                         f"evaluated zero-shot on {esc(langs)}; main metric {esc(task.main_metric)}; criteria "
                         f"{esc(', '.join(sorted(g['criterion'].unique())))}; "
                         f"seeds {sorted(g['seed'].unique().tolist())}.")
        lines.append("")
        lines.append("Labelled XTREME test sets are not available offline: PAN-X and UD POS are evaluated on dev, "
                     "XNLI on a fixed third of dev (see the task descriptions).")
    return {"results": results, "masks": masks, "header": "\n".join(lines)}
