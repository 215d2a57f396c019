"""FLAP (hpbench.criteria.flap) against a hand computation on tiny models, and its bias compensation: the pruned
layer's output at the calibration mean input equals the dense layer's; compensated pruned models save and reload."""
import math

import pytest
import torch

from hpbench.criteria.flap import compensate_bias, flap_raw, out_proj_input_stats, standardise
from hpbench.models.adapters import adapter_for
from hpbench.models.heads import from_pretrained, prune_heads, save_pretrained
from tiny_models import tiny_decoder


def _encoded(n=6, T=10, vocab=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        L = T - i % 4
        out.append({"input_ids": torch.randint(1, vocab, (L,), generator=g).tolist(), "attention_mask": [1] * L,
                    "labels": 0})
    return out


def _o_inputs(model, encoded):
    """Every non-padding token's output-projection input, one example at a time (no batching, no padding)."""
    ad = adapter_for(model)
    outs = [ad.out_proj(ad.module(o, a)) for o, a in ad.sites(model)]
    got = [[] for _ in outs]
    hs = [o.register_forward_pre_hook(lambda m, a, i=i: got[i].append(a[0][0].detach().double())) for i, o in enumerate(outs)]
    with torch.no_grad():
        for ex in encoded:
            model(input_ids=torch.tensor([ex["input_ids"]]))
    for h in hs:
        h.remove()
    return outs, [torch.cat(g) for g in got]


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_flap_score_equals_a_hand_computation(kind):
    model = tiny_decoder(kind)
    enc = _encoded()
    outs, xs = _o_inputs(model, enc)
    d = 8
    want = torch.zeros(3, 8, dtype=torch.float64)
    for l, (o, x) in enumerate(zip(outs, xs)):
        n = x.shape[0]
        for h in range(8):
            for j in range(h * d, (h + 1) * d):
                mean = sum(x[t, j].item() for t in range(n)) / n
                fluct = sum((x[t, j].item() - mean) ** 2 for t in range(n)) / (n - 1)
                want[l, h] += fluct * sum(w * w for w in o.weight[:, j].double().tolist())
    got = flap_raw(model, out_proj_input_stats(model, enc, batch_size=4))
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)
    z = standardise(got)
    for l in range(3):  # standardised within each layer: mean 0, std 1
        assert abs(z[l].mean().item()) < 1e-9 and math.isclose(z[l].std().item(), 1.0, rel_tol=1e-9)


@pytest.mark.parametrize("kind", ["llama", "qwen2", "gpt2", "bert"])
def test_bias_compensation_keeps_each_layers_output_at_the_calibration_mean(kind):
    if kind in ("gpt2", "bert"):
        from tiny_models import tiny

        model = tiny(kind)[0]
        H = 4
        enc = [{k: v for k, v in e.items()} for e in _encoded()]
    else:
        model, H = tiny_decoder(kind), 8
        enc = _encoded()
    L = len(adapter_for(model).sites(model))
    keep = torch.rand(L, H, generator=torch.Generator().manual_seed(3)) > 0.4
    keep[:, 0] = True  # every layer keeps a head (the projection stays)
    stats = out_proj_input_stats(model, enc, batch_size=3)
    comp = prune_heads(compensate_bias(model, keep, stats), keep)
    ad = adapter_for(model)
    for l, ((mean, _), (o1, a1), (o2, a2)) in enumerate(zip(stats, ad.sites(model), ad.sites(comp))):
        dense, pruned = ad.out_proj(ad.module(o1, a1)), ad.out_proj(ad.module(o2, a2))
        d = mean.numel() // H
        kept = torch.cat([torch.arange(h * d, (h + 1) * d) for h in range(H) if keep[l, h]])
        x = mean.to(torch.float32)
        with torch.no_grad():
            torch.testing.assert_close(pruned(x[kept][None])[0], dense(x[None])[0], atol=1e-5, rtol=1e-5)


def test_a_compensated_pruned_decoder_saves_and_reloads_both_ways(tmp_path):
    model = tiny_decoder("llama")
    enc = _encoded()
    stats = out_proj_input_stats(model, enc)
    from hpbench.criteria.units import unit_keep

    batch = {"input_ids": torch.tensor([enc[0]["input_ids"]])}
    for name, keep, fmt in (("irregular", unit_keep(torch.randn(3, 8), 7, 4, "query"), "hpbench"),
                            ("regular", unit_keep(torch.randn(3, 8), 12, 4, "balanced", True), "standard")):
        m = prune_heads(compensate_bias(model, keep, stats), keep)
        with torch.no_grad():
            want = m(**batch).logits
        assert save_pretrained(m, tmp_path / name) == fmt
        if fmt == "standard":
            from transformers import AutoModelForCausalLM

            back = AutoModelForCausalLM.from_pretrained(tmp_path / name)
            assert back.config.attention_bias is True
        else:
            back = from_pretrained(tmp_path / name)
        with torch.no_grad():
            torch.testing.assert_close(back.eval()(**batch).logits, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_flap_is_the_released_prune_flap_head_metric_by_hand(kind):
    """CASIA-IVA-Lab/FLAP lib/prune.py (WIFV, AL-MM): W_metric = (F_j ||W_o[:, j]||^2)^2 per channel, standardised over
    the layer's channels with torch.std (N - 1), reshaped to heads and averaged: recomputed here with plain loops."""
    from hpbench.criteria.base import ScoringContext
    from hpbench.criteria.flap import flap

    model = tiny_decoder(kind)
    enc = _encoded()
    outs, xs = _o_inputs(model, enc)
    d, want = 8, torch.zeros(3, 8, dtype=torch.float64)
    for l, (o, x) in enumerate(zip(outs, xs)):
        n = x.shape[0]
        metric = []
        for j in range(64):
            mean = sum(x[t, j].item() for t in range(n)) / n
            fluct = sum((x[t, j].item() - mean) ** 2 for t in range(n)) / (n - 1)
            metric.append((fluct * sum(w * w for w in o.weight[:, j].double().tolist())) ** 2)
        mu = sum(metric) / 64
        sd = math.sqrt(sum((m - mu) ** 2 for m in metric) / 63)
        z = [(m - mu) / sd for m in metric]
        for h in range(8):
            want[l, h] = sum(z[h * d:(h + 1) * d]) / d
    got = flap(ScoringContext(model, None, enc, batch_size=4))
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-5)


def _down_inputs(model, encoded):
    """Every token's FFN down-projection input, one example at a time (no batching)."""
    from hpbench.models.ffn import down_projections

    downs = down_projections(model)
    got = [[] for _ in downs]
    hs = [d.register_forward_pre_hook(lambda m, a, i=i: got[i].append(a[0][0].detach().double())) for i, d in enumerate(downs)]
    with torch.no_grad():
        for ex in encoded:
            model(input_ids=torch.tensor([ex["input_ids"]]))
    for h in hs:
        h.remove()
    return downs, [torch.cat(g) for g in got]


def _released_al_am(attn, mlp, ratio, head_weight=512.0 / 3):
    """prune_flap's AL-AM threshold as a plain loop: sort all metrics descending, weigh heads 512/3 and channels 1,
    take the position whose running weight is nearest (first of ties) to (1 - ratio) x the total; keep metric > it."""
    items = [(float(v), True) for v in attn.flatten()] + [(float(v), False) for v in mlp.flatten()]
    order = sorted(range(len(items)), key=lambda i: -items[i][0])  # (no ties in these real-valued metrics)
    total = sum(head_weight if items[i][1] else 1.0 for i in order)
    run, best, best_gap = 0.0, None, math.inf
    for pos, i in enumerate(order):
        run += head_weight if items[i][1] else 1.0
        gap = abs(run - total * (1 - ratio))
        if gap < best_gap:
            best, best_gap = pos, gap
    t = items[order[best]][0]
    return attn > t, mlp > t


@pytest.mark.parametrize("ratio", [0.2, 0.5])
def test_flap_joint_heads_and_channels_are_the_released_al_am_by_hand(ratio):
    """On a tiny Llama: the FFN metric (F_j ||W_down[:, j]||², standardised per layer) recomputed with loops over every
    token, the head metric as in the AL-MM test, and the released joint threshold as a plain loop give the plan's
    heads and channels; each layer's compensated down projection returns the dense output at the calibration mean."""
    from hpbench.criteria.base import ScoringContext, parse_spec
    from hpbench.criteria.masks import masks_for_sparsities
    from hpbench.models.ffn import down_projections

    model = tiny_decoder("llama")
    enc = _encoded(n=8)
    downs, xs = _down_inputs(model, enc)
    N = downs[0].weight.shape[1]  # FFN channels per layer
    mlp = torch.zeros(3, N, dtype=torch.float64)
    means = []
    for l, (dn, x) in enumerate(zip(downs, xs)):
        n = x.shape[0]
        m = [sum(x[t, j].item() for t in range(n)) / n for j in range(N)]
        means.append(torch.tensor(m, dtype=torch.float64))
        raw = [sum((x[t, j].item() - m[j]) ** 2 for t in range(n)) / (n - 1) * sum(w * w for w in dn.weight[:, j].double().tolist())
               for j in range(N)]
        mu = sum(raw) / N
        sd = math.sqrt(sum((r - mu) ** 2 for r in raw) / (N - 1))
        mlp[l] = torch.tensor([(r - mu) / sd for r in raw])
    ctx = ScoringContext(model, None, enc, batch_size=4)
    from hpbench.criteria.flap import flap

    attn = flap(ctx).double()
    want_heads, want_ch = _released_al_am(attn, mlp, ratio)
    plan = masks_for_sparsities(*parse_spec("flap"), ctx, [0.0, ratio]).levels[ratio]
    assert plan.budget == "flops"
    torch.testing.assert_close(plan.keep, want_heads)
    torch.testing.assert_close(plan.ffn_keep, want_ch)
    assert int((~want_ch).sum()) > 0  # channels go at both levels (heads weigh 512/3 each: few or none go at 20 %)
    for l, (dense, comp) in enumerate(zip(downs, down_projections(plan.weights))):
        gone = ~plan.ffn_keep[l]
        x = means[l].float()
        with torch.no_grad():
            masked = comp(torch.where(gone, torch.zeros_like(x), x)[None])[0]
            torch.testing.assert_close(masked, dense(x[None])[0], atol=1e-5, rtol=1e-5)


def test_a_flap_joint_plan_prunes_saves_and_reloads_with_its_ffn_biases(tmp_path):
    from hpbench.criteria.base import ScoringContext, parse_spec
    from hpbench.criteria.masks import masks_for_sparsities

    model = tiny_decoder("llama")
    enc = _encoded(n=8)
    from hpbench.criteria.plan import gated_by, pruned_by

    plan = masks_for_sparsities(*parse_spec("flap"), ScoringContext(model, None, enc, batch_size=4), [0.0, 0.4]).levels[0.4]
    batch = {"input_ids": torch.tensor([enc[0]["input_ids"]])}
    with torch.no_grad(), gated_by(model, plan, (3, 8)) as g:
        by_gates = g(**batch).logits
    with torch.no_grad(), pruned_by(model, plan, (3, 8)) as p:
        want = p(**batch).logits
        pruned = p
    torch.testing.assert_close(want, by_gates, atol=1e-5, rtol=1e-5)  # gated == pruned, FFN biases included
    with torch.no_grad():
        assert not torch.allclose(want, model(**batch).logits, atol=1e-3)
    assert save_pretrained(pruned, tmp_path / "m") == "hpbench"  # pruned FFN widths: hpbench's format
    back = from_pretrained(tmp_path / "m").eval()
    with torch.no_grad():
        torch.testing.assert_close(back(**batch).logits, want, atol=1e-5, rtol=1e-5)
