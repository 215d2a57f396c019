import copy

import numpy as np
import pytest
import torch

from hpbench.models.heads import HeadGates, from_pretrained, gated, heads_per_layer, prune_heads, save_pretrained
from conftest import tiny_batch, tiny_model


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_gate_changes_output_and_ones_do_not(kind):
    m = tiny_model(kind)
    b = tiny_batch(pad_id=m.config.pad_token_id or 0)
    with torch.no_grad():
        ref = m(**b).logits
        with gated(m, torch.ones(3, 4)):
            same = m(**b).logits
        g = torch.ones(3, 4)
        g[1, 2] = 0.0
        with gated(m, g):
            changed = m(**b).logits
        after = m(**b).logits  # hooks removed
    assert torch.allclose(ref, same, atol=1e-6)
    assert (ref - changed).abs().max() > 1e-4
    assert torch.allclose(ref, after, atol=1e-6)


def test_head_mask_kwarg_is_not_what_gates_use():
    """transformers 5 silently ignores head_mask=; HeadGates must really act (trap from the brief)."""
    m = tiny_model("bert")
    b = tiny_batch()
    with torch.no_grad():
        ref = m(**b).logits
        with gated(m, torch.zeros(3, 4)):
            zeroed = m(**b).logits
    assert (ref - zeroed).abs().max() > 1e-4


def test_per_example_gates_equal_separate_runs():
    m = tiny_model("bert")
    b = tiny_batch(n=2)
    g = torch.ones(2, 3, 4)
    g[1, 0, :2] = 0.0
    with torch.no_grad(), gated(m, g):
        both = m(**b).logits
    with torch.no_grad(), gated(m, g[1]):
        second = m(**{k: v[1:] for k, v in b.items()}).logits
    assert torch.allclose(both[1:], second, atol=1e-5)


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_pruned_equals_gated(kind, attn, tmp_path):
    m = tiny_model(kind, attn=attn)
    b = tiny_batch(pad_id=m.config.pad_token_id or 0)
    keep = torch.ones(3, 4, dtype=torch.bool)
    keep[0, [1, 3]] = False
    keep[1, :] = False  # a whole layer
    keep[2, 0] = False
    with torch.no_grad(), gated(m, keep.float()):
        ref = m(**b).logits
    p = prune_heads(copy.deepcopy(m), keep)
    assert heads_per_layer(p) == [2, 0, 3]
    assert p.bert.encoder.layer[0].attention.self.query.out_features == 2 * 8 if kind == "bert" else True
    with torch.no_grad():
        out = p(**b).logits
    assert torch.allclose(ref, out, atol=1e-5), (ref - out).abs().max()
    # pruning again, incrementally, by original head ids
    keep2 = keep.clone()
    keep2[2, 3] = False
    p2 = prune_heads(p, keep2)
    with torch.no_grad(), gated(m, keep2.float()):
        ref2 = m(**b).logits
    with torch.no_grad():
        assert torch.allclose(ref2, p2(**b).logits, atol=1e-5)
    # save / load round trip
    save_pretrained(p2, tmp_path / "pruned")
    q = from_pretrained(tmp_path / "pruned")
    assert heads_per_layer(q) == [2, 0, 2]
    with torch.no_grad():
        assert torch.allclose(q(**b).logits, ref2, atol=1e-5)


def test_bad_mask_shape_is_named():
    m = tiny_model("bert")
    with pytest.raises(ValueError, match=r"shape \(2, 4\).*\(3, 4\)"):
        prune_heads(m, torch.ones(2, 4, dtype=torch.bool))


def test_hooks_removed_on_exit():
    m = tiny_model("bert")
    with HeadGates(m, torch.zeros(3, 4)):
        pass
    assert all(len(l.attention.output.dense._forward_pre_hooks) == 0 for l in m.bert.encoder.layer)


def test_pruning_keeps_the_model_dtype():
    m = tiny_model("bert").to(torch.bfloat16)
    keep = torch.ones(3, 4, dtype=torch.bool)
    keep[0, 1] = False
    keep[1, :] = False
    p = prune_heads(copy.deepcopy(m), keep)
    assert {t.dtype for t in p.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        p(**tiny_batch())  # runs without a dtype mismatch


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_evaluation_does_not_depend_on_batch_size(attn):
    """Length-sorted batches of any size give the same logits: padding is masked, order is restored."""
    from hpbench.evaluation import predict
    from hpbench.tasks import get_task

    task = get_task("stsb")  # regression: compares real-valued outputs, not only argmax
    m = tiny_model("bert", num_labels=1, attn=attn)
    g = torch.Generator().manual_seed(3)
    enc = [{"input_ids": torch.randint(5, 200, (int(n),), generator=g).tolist(), "attention_mask": [1] * int(n),
            "labels": float(i)} for i, n in enumerate(torch.randint(3, 40, (23,), generator=g))]
    ref = predict(m, task, enc, batch_size=1)
    for bs in (4, 16, 64):
        ys, ps = predict(m, task, enc, batch_size=bs)
        assert ys == ref[0]
        np.testing.assert_allclose(ps, ref[1], rtol=1e-4, atol=1e-5)


def test_pruned_context_equals_a_pruned_copy_and_restores_the_model():
    import copy

    from hpbench.models.heads import pruned

    m = tiny_model("bert")
    b = tiny_batch()
    keep = torch.rand(3, 4, generator=torch.Generator().manual_seed(5)) > 0.5
    keep[1] = False  # a whole layer
    keep[0, 0] = True
    params_before = {n: p for n, p in m.named_parameters()}
    with torch.no_grad():
        before = m(**b).logits
        want = prune_heads(copy.deepcopy(m), keep)(**b).logits
        with pruned(m, keep) as p:
            got = p(**b).logits
            assert heads_per_layer(p) == keep.sum(1).tolist()
        after = m(**b).logits
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    assert heads_per_layer(m) == [4, 4, 4] and not hasattr(m.config, "hpbench_pruned_heads")
    assert all(p is params_before[n] for n, p in m.named_parameters())  # the very same weights are back
