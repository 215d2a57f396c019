"""Wanda-sp (hpbench.criteria.wanda_sp) against a hand computation of the released head metric on tiny GQA decoders,
and its released allocation: the same number of heads (or KV groups) pruned in every layer, each layer's weakest."""
import math

import pytest
import torch

from hpbench.criteria import masks_for_sparsities, parse_spec
from hpbench.criteria.base import ScoringContext
from test_flap import _encoded, _o_inputs
from tiny_models import tiny_decoder


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_wanda_sp_score_equals_a_hand_computation(kind):
    """S_h = Σ_{j in h} mean_i |W_o[i, j]| sqrt(Σ_t x_tj²), inputs one example at a time (no batching, no padding)."""
    model = tiny_decoder(kind)
    enc = _encoded()
    outs, xs = _o_inputs(model, enc)
    d = 8
    want = torch.zeros(3, 8, dtype=torch.float64)
    for l, (o, x) in enumerate(zip(outs, xs)):
        w = o.weight.double().tolist()
        for h in range(8):
            for j in range(h * d, (h + 1) * d):
                norm = math.sqrt(sum(x[t, j].item() ** 2 for t in range(x.shape[0])))
                want[l, h] += sum(abs(row[j]) for row in w) / len(w) * norm
    crit, params = parse_spec("wanda_sp")
    got = crit.fn(ScoringContext(model, None, enc, batch_size=4), **params)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("unit", ["query", "group"])
def test_wanda_sp_prunes_each_layers_weakest_units_in_equal_numbers(unit):
    """As released (``thresh = sort(S)[int(ratio H)]`` per layer): at 50 % each of the 3 layers loses its 4 weakest
    query heads (``query``) or its 2 weakest KV groups of 2 (``group``, groups ranked by their heads' mean score), even
    when the scores of one layer are all below every other layer's."""
    model = tiny_decoder("llama")
    with torch.no_grad():  # layer 0's heads all score below every other layer's: a global ranking would prune them first
        model.model.layers[0].self_attn.o_proj.weight.mul_(1e-3)
    enc = _encoded()
    crit, params = parse_spec("wanda_sp")
    cm = masks_for_sparsities(crit, params, ScoringContext(model, None, enc, batch_size=4), [0.0, 0.5], gqa_unit=unit)
    s = cm.scores.double()
    assert s[0].max() < s[1:].min()
    keep = torch.as_tensor(cm.levels[0.5].keep).bool()
    for l in range(3):
        if unit == "query":
            weakest = set(torch.sort(s[l], stable=True).indices[:4].tolist())
        else:
            means = s[l].view(4, 2).mean(1)
            weakest = {h for g in torch.sort(means, stable=True).indices[:2].tolist() for h in (2 * g, 2 * g + 1)}
        assert set((~keep[l]).nonzero().flatten().tolist()) == weakest
    assert cm.info.get("layer_uniform") is True
