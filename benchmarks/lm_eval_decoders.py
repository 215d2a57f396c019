"""Word perplexity and bits per byte of the real GGUF decoders through lm-evaluation-harness (rolling
log-likelihood, hpbench.evaluation.lm_harness) on held-out English text: every sentence of UD English-EWT's dev
set ("# text =" lines; CC BY-SA 4.0), one document per sentence, with a 95 % bootstrap interval over sentences.
Then zero-shot accuracy on lm-eval's own GLUE RTE and SST-2 tasks (their prompts and choices) over the local dev
files, with a 95 % bootstrap interval and the majority-class share beside it.

    python benchmarks/lm_eval_decoders.py [N_SENTENCES]      # needs the llm extra and the model packages
"""
from __future__ import annotations

import math
import time

import numpy as np

from hpbench.evaluation.lm_harness import multiple_choice, perplexities, rolling_loglikelihoods
from hpbench.tasks.datadir import data_dir


def ewt_dev(n: int | None) -> list[str]:
    path = next((data_dir() / "ud" / "UD_English-EWT").glob("*-ud-dev.conllu"))
    texts = [ln[len("# text = "):].strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("# text = ")]
    return texts[:n] if n else texts


def glue_docs() -> dict[str, list[dict]]:
    """RTE and SST-2 dev as lm-eval's GLUE tasks read them (RTE: label 0 = entailment = "True")."""
    import pandas as pd

    rte = pd.read_csv(data_dir() / "glue" / "RTE" / "dev.tsv", sep="\t", quoting=3)
    sst = pd.read_csv(data_dir() / "glue" / "SST-2" / "dev.tsv", sep="\t", quoting=3)
    return {"rte": rte[["sentence1", "sentence2", "label"]].to_dict("records"),
            "sst2": sst[["sentence", "label"]].to_dict("records")}


def main(n: int | None = None) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hpbench.models.registry import MODELS, resolve_model

    texts = ewt_dev(n)
    words = np.array([len(t.split()) for t in texts])
    rng = np.random.default_rng(0)
    boot = rng.integers(0, len(texts), (1000, len(texts)))
    print(f"UD English-EWT dev: {len(texts)} sentences, {int(words.sum())} words")
    for name in ("smollm2-135m", "gemma3-270m"):
        path = resolve_model(name)
        model = AutoModelForCausalLM.from_pretrained(path).eval()
        tok = AutoTokenizer.from_pretrained(path)
        t0 = time.perf_counter()
        lls, agg = rolling_loglikelihoods(model, tok, texts, batch_size=16, device="cpu")
        secs = time.perf_counter() - t0
        ours = perplexities(lls, texts)
        ll = np.array(lls)
        reps = np.exp(-ll[boot].sum(1) / words[boot].sum(1))
        lo, hi = np.percentile(reps, [2.5, 97.5])
        print(f"{name} ({MODELS.get(name).description.split(', dequantised')[0]}; dequantised from 4-bit GGUF): "
              f"word perplexity {ours['word_perplexity']:.2f} [{lo:.2f}, {hi:.2f}] (lm-eval's own aggregate "
              f"{agg['word_perplexity']:.2f}), bits per byte {ours['bits_per_byte']:.4f}, {secs:.0f} s")
        assert math.isclose(ours["word_perplexity"], agg["word_perplexity"], rel_tol=1e-6)
        for task, docs in glue_docs().items():
            t0 = time.perf_counter()
            acc = np.array(multiple_choice(model, tok, task, docs, batch_size=16, device="cpu"))
            lo, hi = np.percentile(acc[rng.integers(0, len(acc), (1000, len(acc)))].mean(1), [2.5, 97.5])
            labels = np.array([d["label"] for d in docs])
            print(f"  zero-shot {task} (lm-eval's prompt, {len(docs)} dev items): accuracy {acc.mean():.3f} [{lo:.3f}, "
                  f"{hi:.3f}], majority class {max(np.mean(labels == 0), np.mean(labels == 1)):.3f}, "
                  f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=None, help="first N dev sentences (default: all 2,001)")
    main(ap.parse_args().n)
