"""Word perplexity and bits per byte of the real GGUF decoders through lm-evaluation-harness (rolling
log-likelihood, hpbench.evaluation.lm_harness) on held-out English text: every sentence of UD English-EWT's dev
set ("# text =" lines; CC BY-SA 4.0), one document per sentence, with a 95 % bootstrap interval over sentences.

    python benchmarks/lm_eval_decoders.py [N_SENTENCES]      # needs the llm extra and the model packages
"""
from __future__ import annotations

import math
import time

import numpy as np

from hpbench.evaluation.lm_harness import perplexities, rolling_loglikelihoods
from hpbench.tasks.datadir import data_dir


def ewt_dev(n: int | None) -> list[str]:
    path = next((data_dir() / "ud" / "UD_English-EWT").glob("*-ud-dev.conllu"))
    texts = [ln[len("# text = "):].strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("# text = ")]
    return texts[:n] if n else texts


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


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=None, help="first N dev sentences (default: all 2,001)")
    main(ap.parse_args().n)
