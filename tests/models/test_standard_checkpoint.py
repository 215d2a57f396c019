"""Regularly pruned decoders save as standard transformers checkpoints: plain AutoModelForCausalLM loads them (no
hpbench import, checked in a fresh process), with the new head counts in the config and the gated model's logits
(eager and sdpa); irregular masks keep hpbench's format."""
import json
import subprocess
import sys

import pytest
import torch
from tiny_models import tiny_decoder

from hpbench.criteria.units import unit_keep
from hpbench.models.heads import gated, heads_per_layer, prune_heads, save_pretrained
from hpbench.models.standard import regular_heads


BATCH = {"input_ids": torch.randint(1, 100, (2, 11), generator=torch.Generator().manual_seed(1)),
         "attention_mask": torch.tensor([[1] * 11, [1] * 8 + [0] * 3])}


@pytest.mark.parametrize("kind", ["llama", "qwen2", "mistral"])
@pytest.mark.parametrize("unit, uniform, n", [("balanced", True, 6), ("group", True, 12), ("balanced", True, 12)])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_a_regular_pruned_decoder_reloads_with_plain_transformers_with_the_gated_logits(kind, unit, uniform, n, attn,
                                                                                       tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    model = tiny_decoder(kind, attn)
    keep = unit_keep(torch.randn(3, 8, generator=torch.Generator().manual_seed(2)), n, 4, unit, uniform)
    with torch.no_grad(), gated(model, keep.float()):
        want = model(**BATCH).logits
    prune_heads(model, keep)
    heads, kv = regular_heads(model)
    assert save_pretrained(model, tmp_path / "m") == "standard"
    cfg = AutoConfig.from_pretrained(tmp_path / "m")
    assert (cfg.num_attention_heads, cfg.num_key_value_heads) == (heads, kv) == (int(keep[0].sum()), kv)
    assert not hasattr(cfg, "hpbench_pruned_heads") and cfg.head_dim == 8
    back = AutoModelForCausalLM.from_pretrained(tmp_path / "m", attn_implementation=attn).eval()
    with torch.no_grad():
        got = back(**BATCH).logits
    m = BATCH["attention_mask"].bool()
    torch.testing.assert_close(got[m], want[m], atol=1e-5, rtol=1e-5)


def test_the_standard_checkpoint_loads_in_a_process_that_never_imports_hpbench(tmp_path):
    model = tiny_decoder("llama")
    keep = unit_keep(torch.randn(3, 8, generator=torch.Generator().manual_seed(3)), 12, 4, "balanced", True)
    prune_heads(model, keep)
    save_pretrained(model, tmp_path / "m")
    with torch.no_grad():
        want = model(**BATCH).logits[0, -1].tolist()
    code = ("import json, sys, torch; from transformers import AutoModelForCausalLM as A\n"
            "m = A.from_pretrained(sys.argv[1]).eval()\n"
            "ids = torch.tensor(json.loads(sys.argv[2]))\n"
            "print(json.dumps({'hpbench': 'hpbench' in sys.modules, 'heads': m.config.num_attention_heads,"
            " 'logits': m(input_ids=ids).logits[0, -1].tolist()}))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m"), json.dumps(BATCH["input_ids"][:1].tolist())],
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["hpbench"] is False and r["heads"] == 4
    torch.testing.assert_close(torch.tensor(r["logits"]), torch.tensor(want), atol=1e-5, rtol=1e-5)


def test_irregular_masks_keep_hpbenchs_format():
    model = tiny_decoder("llama")
    keep = unit_keep(torch.randn(3, 8, generator=torch.Generator().manual_seed(4)), 5, 4, "query")
    prune_heads(model, keep)
    assert regular_heads(model) is None
    import tempfile

    import hpbench

    with tempfile.TemporaryDirectory() as d:
        assert save_pretrained(model, d) == "hpbench"
        assert heads_per_layer(hpbench.from_pretrained(d)) == keep.sum(1).tolist()
        with pytest.raises(ValueError, match="not regular"):
            save_pretrained(model, d, standard=True)


def test_a_regular_layout_transformers_refuses_keeps_hpbenchs_format_and_says_why(tmp_path):
    """Llama's config needs hidden_size divisible by the heads: 6 kept of hidden 64 is regular but refused."""
    model = tiny_decoder("llama")
    keep = unit_keep(torch.randn(3, 8, generator=torch.Generator().manual_seed(5)), 6, 4, "group", True)
    prune_heads(model, keep)
    assert regular_heads(model) == (6, 3)
    assert save_pretrained(model, tmp_path / "m") == "hpbench"
    with pytest.raises(ValueError, match=r"transformers refuses the rewritten config .*hidden size \(64\)"):
        save_pretrained(model, tmp_path / "m2", standard=True)
