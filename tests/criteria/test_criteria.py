import pytest
import torch

import hpbench
from hpbench.criteria import (CRITERIA, ScoringContext, keep_from_scores, layer_l2, masks_for_sparsities, minmax,
                              n_to_prune, parse_spec, validate_sparsities)
from hpbench.criteria.hies_recon import hies_score
from hpbench.criteria.stats import HeadStats


def test_registry_lists_builtins():
    assert {"his", "entropy", "hies", "hies_recon", "l2", "ad", "random"} <= set(hpbench.list_criteria())


def test_unknown_criterion_names_the_bad_value_and_choices():
    with pytest.raises(KeyError, match=r"unknown criterion 'hiss'; available: .*entropy.*his.*random"):
        parse_spec("hiss")


def test_bad_parameter_names_allowed():
    with pytest.raises(ValueError, match=r"bad parameter 'beta=1'.*alpha=0.5"):
        parse_spec("hies_recon:beta=1")
    with pytest.raises(ValueError, match=r"alpha='x' is not a float"):
        parse_spec("hies_recon:alpha=x")
    crit, params = parse_spec("hies_recon:alpha=0.25,entropy_sign=1")
    assert crit.name == "hies_recon" and params == {"alpha": 0.25, "entropy_sign": 1}


@pytest.mark.parametrize("bad", [[], [0.1, 1.0], [-0.1], [0.2, 0.1], [0.1, 0.1], ["a"], [float("nan")], 1.5])
def test_bad_sparsities(bad):
    with pytest.raises(ValueError, match=r"sparsit"):
        validate_sparsities(bad)


@pytest.mark.parametrize("total", [12, 72, 144])
def test_mask_prunes_exactly_round_k_percent(total):
    scores = torch.rand(total // 12, 12, generator=torch.Generator().manual_seed(0))
    for k in range(0, 100, 5):
        n = n_to_prune(total, k / 100)
        assert n == int(k * total / 100 + 0.5)  # round half up, integer arithmetic
        keep = keep_from_scores(scores, n)
        assert int((~keep).sum()) == n
        if n:  # the pruned ones are exactly the n lowest
            assert scores[~keep].max() <= scores[keep].min() if keep.any() else True


def test_keep_from_scores_respects_current_mask_and_ties():
    s = torch.tensor([[1.0, 1.0, 3.0], [0.5, 2.0, 2.0]])
    keep = keep_from_scores(s, 2)
    assert keep.tolist() == [[False, True, True], [False, True, True]]  # tie on 1.0 broken by index
    cur = torch.tensor([[True, True, False], [True, True, True]])
    keep2 = keep_from_scores(s, 2, cur)
    assert keep2.tolist() == [[True, True, False], [False, True, True]]


def test_normalisations_hand_computed():
    s = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    assert torch.allclose(layer_l2(s), torch.tensor([[0.6, 0.8], [1.0, 0.0]]))
    assert torch.allclose(minmax(s), torch.tensor([[0.75, 1.0], [0.25, 0.0]]))
    assert torch.allclose(minmax(s, "layer"), torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_hies_formula_hand_computed():
    his = torch.tensor([[0.0, 1.0], [2.0, 4.0]])
    ent = torch.tensor([[1.0, 3.0], [2.0, 1.0]])
    # N(his) = [[0, .25], [.5, 1]]; N(-ent) = [[1, 0], [.5, 1]]
    got = hies_score(his, ent, alpha=0.25, norm="global", entropy_sign=-1)
    want = 0.25 * torch.tensor([[0.0, 0.25], [0.5, 1.0]]) + 0.75 * torch.tensor([[1.0, 0.0], [0.5, 1.0]])
    assert torch.allclose(got, want)
    # sign +1 rewards high entropy
    up = hies_score(his, ent, alpha=0.0, entropy_sign=1)
    assert torch.allclose(up, torch.tensor([[0.0, 1.0], [0.5, 0.0]]))
    with pytest.raises(ValueError, match="alpha=1.5"):
        hies_score(his, ent, alpha=1.5)


class _Cfg:
    model_type = "bert"  # head_shape reads the sizes through the architecture's adapter
    num_hidden_layers, num_attention_heads, hidden_size, intermediate_size = 2, 3, 12, 24


class _M:
    config = _Cfg()


def _ctx(seed=0, his=None, ent=None):
    ctx = ScoringContext(model=_M(), task=None, encoded=[], seed=seed)
    st = HeadStats(his=his if his is not None else torch.arange(6.0).view(2, 3), his_batch=torch.zeros(2, 3),
                   entropy=ent if ent is not None else torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.4, 0.3]]),
                   n_examples=1, n_tokens=1, seconds=0.0)
    ctx.memo[("head_stats", None)] = st
    return ctx


def test_random_is_deterministic_per_seed():
    r = CRITERIA.get("random").fn
    assert torch.equal(r(_ctx(0)), r(_ctx(0)))
    assert not torch.equal(r(_ctx(0)), r(_ctx(1)))


def test_criteria_directions():
    ctx = _ctx()
    ent = CRITERIA.get("entropy").fn(ctx)
    keep = keep_from_scores(ent, 1)
    assert not keep[0, 2]  # the most diffuse head (entropy 3.0) goes first
    his = CRITERIA.get("his").fn(ctx, normalize=False)
    assert not keep_from_scores(his, 1)[0, 0]


def test_masks_for_sparsities_one_shot_are_nested_and_exact():
    crit, params = parse_spec("his:normalize=false")
    cm = masks_for_sparsities(crit, params, _ctx(), [0.0, 0.2, 0.5])
    masks = {s: r.keep for s, r in cm.levels.items()}
    assert [int((~m).sum()) for m in masks.values()] == [0, 1, 3]
    assert (masks[0.5] <= masks[0.2]).all()
