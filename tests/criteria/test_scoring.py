import math

import torch

from hpbench.tasks.encoding import collate
from hpbench.criteria.stats import attention_entropy, head_stats
from hpbench.tasks import get_task
from hpbench.models.heads import gated
from conftest import tiny_batch, tiny_model


def _encoded(batch, labels):
    items = []
    for i in range(batch["input_ids"].shape[0]):
        n = int(batch["attention_mask"][i].sum())
        items.append({"input_ids": batch["input_ids"][i, :n].tolist(), "attention_mask": [1] * n,
                      "token_type_ids": [0] * n, "labels": labels[i]})
    return items


def test_his_equals_finite_difference_of_gates():
    """E_x |dL(x)/d xi_h| from the one-pass scorer vs central finite differences per example."""
    task = get_task("sst2")
    m = tiny_model("bert").double()
    b = tiny_batch(n=3, T=8, seed=3)
    enc = _encoded(b, [0, 1, 1])
    stats = head_stats(m, task, enc, batch_size=2, entropy=False)  # two batches: 2 + 1 examples
    eps = 1e-6
    fd = torch.zeros(3, 4, dtype=torch.float64)
    fd2 = torch.zeros(3, 4, dtype=torch.float64)
    block = torch.zeros(3, 4, 4, dtype=torch.float64)
    for item in enc:
        g_ex = torch.zeros(3, 4, dtype=torch.float64)
        x = collate([item])
        inputs = {k: v for k, v in x.items() if k != "labels"}
        for l in range(3):
            for h in range(4):
                vals = []
                for sgn in (1, -1):
                    g = torch.ones(3, 4, dtype=torch.float64)
                    g[l, h] += sgn * eps
                    with torch.no_grad(), gated(m, g):
                        vals.append(float(task.loss_per_example(m(**inputs).logits, x["labels"])[0]))
                fd[l, h] += abs(vals[0] - vals[1]) / (2 * eps)
                fd2[l, h] += ((vals[0] - vals[1]) / (2 * eps)) ** 2
                g_ex[l, h] = (vals[0] - vals[1]) / (2 * eps)
        block += g_ex[:, :, None] * g_ex[:, None, :]
    fd /= len(enc)
    assert torch.allclose(stats.his.double(), fd, atol=1e-4, rtol=1e-4), (stats.his - fd).abs().max()
    assert torch.allclose(stats.fisher.double(), fd2 / len(enc), atol=1e-4, rtol=1e-4)  # E_x (dL(x)/d xi)^2
    # Kwon et al.'s block-diagonal Fisher: E_x g_l(x) g_l(x)^T within each layer
    assert torch.allclose(stats.fisher_block, block / len(enc), atol=1e-4, rtol=1e-4)
    assert fd.abs().max() > 1e-3  # a non-trivial check


def test_his_under_a_mask_matches_finite_difference_at_that_mask():
    task = get_task("sst2")
    m = tiny_model("bert").double()
    b = tiny_batch(n=2, T=7, seed=5)
    enc = _encoded(b, [1, 0])
    keep = torch.ones(3, 4)
    keep[0, 1] = 0
    stats = head_stats(m, task, enc, batch_size=2, entropy=False, keep=keep)
    x = collate(enc[:1])
    inputs = {k: v for k, v in x.items() if k != "labels"}
    eps = 1e-6
    out = []
    for sgn in (1, -1):
        g = keep.double().clone()
        g[2, 3] += sgn * eps
        with torch.no_grad(), gated(m, g):
            out.append(float(task.loss_per_example(m(**inputs).logits, x["labels"])[0]))
    x2 = collate(enc[1:])
    inputs2 = {k: v for k, v in x2.items() if k != "labels"}
    out2 = []
    for sgn in (1, -1):
        g = keep.double().clone()
        g[2, 3] += sgn * eps
        with torch.no_grad(), gated(m, g):
            out2.append(float(task.loss_per_example(m(**inputs2).logits, x2["labels"])[0]))
    want = (abs(out[0] - out[1]) + abs(out2[0] - out2[1])) / (2 * eps) / 2
    assert abs(float(stats.his[2, 3]) - want) < 1e-4


def test_entropy_hand_computed():
    p = torch.tensor([[[[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5]]]])  # [1, 1, 3, 3]
    mask = torch.tensor([[1, 1, 0]])  # query 3 is padding: excluded
    h = attention_entropy(p, mask)
    want = (math.log(2) + 0.0) / 2
    assert abs(float(h[0, 0]) - want) < 1e-7
    h_all = attention_entropy(p, torch.ones(1, 3))
    want_all = (math.log(2) + 0 + (2 * 0.25 * math.log(4) + 0.5 * math.log(2))) / 3
    assert abs(float(h_all[0, 0]) - want_all) < 1e-7


def test_entropy_ignores_padding_keys_in_model():
    """The scorer's entropy for a padded example equals that of the same example alone (no padding)."""
    task = get_task("sst2")
    m = tiny_model("bert")
    b = tiny_batch(n=2, T=9, seed=1)
    enc = _encoded(b, [0, 1])
    together = head_stats(m, task, enc, batch_size=2, gradients=False).entropy
    alone = (head_stats(m, task, enc[:1], batch_size=1, gradients=False).entropy
             + head_stats(m, task, enc[1:], batch_size=1, gradients=False).entropy) / 2
    assert torch.allclose(together, alone, atol=1e-5)
    assert (together > 0).all() and (together <= math.log(9) + 1e-6).all()


def test_scoring_leaves_model_unchanged():
    task = get_task("sst2")
    m = tiny_model("bert", attn="sdpa")
    enc = _encoded(tiny_batch(n=2), [0, 1])
    head_stats(m, task, enc)
    assert m.config._attn_implementation == "sdpa"
    assert all(p.requires_grad for p in m.parameters())
    assert all(p.grad is None for p in m.parameters())


def test_split_passes_equal_the_joint_pass():
    """HIS from an sdpa gradient pass + entropy from a no-grad eager pass = both from one eager pass (fp32),
    without and with a keep mask (the entropy pass must gate the earlier layers as the gradient pass does)."""
    task = get_task("sst2")
    m = tiny_model("bert", attn="sdpa", num_hidden_layers=4, seed=2)
    b = tiny_batch(n=7, T=10, seed=11)
    enc = _encoded(b, [0, 1, 1, 0, 1, 0, 0])
    keep = torch.ones(4, 4)
    keep[0, 2] = keep[1, 0] = 0
    for k in (None, keep):
        joint = head_stats(m, task, enc, batch_size=3, keep=k, passes="joint")
        split = head_stats(m, task, enc, batch_size=3, keep=k, passes="split")
        for name in ("his", "his_batch", "entropy", "entropy_norm"):
            a, c = getattr(joint, name), getattr(split, name)
            assert torch.allclose(a, c, rtol=1e-5, atol=1e-7), (name, (a - c).abs().max())
        assert joint.his.min() > 0 and joint.entropy.min() > 0
    assert m.config._attn_implementation == "sdpa"  # restored after the eager entropy pass
    # the masked statistics really differ (a test where the mask changed nothing could not fail)
    assert not torch.allclose(head_stats(m, task, enc, batch_size=3, passes="split").entropy[2:],
                              head_stats(m, task, enc, batch_size=3, keep=keep, passes="split").entropy[2:])
