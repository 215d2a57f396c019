"""HIES as its paper defines it (Eq. 1, length-normalised AE, alpha on validation), and its baselines L2 and AD."""
import math

import pytest
import torch

from hpbench.criteria import CRITERIA, ScoringContext, parse_spec
from hpbench.criteria.hies import ALPHA_GRID, SELECT_AT, choose_alpha, hies_paper_score
from hpbench.criteria.stats import HeadStats, attention_entropy, normalised_entropy
from hpbench.models.heads import head_weight_norms, prune_heads
from conftest import SHARED, needs_shared
from tiny_models import tiny


def _h(p):
    return -sum(x * math.log(x) for x in p if x > 0)


def test_ae_by_hand_in_unit_interval_padding_excluded():
    """AE(x) = 1/(n log n) sum_t H(a_t) over the n = 3 real tokens; the padded query rows and keys are excluded."""
    rows = [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]
    probs = torch.zeros(1, 1, 5, 5)
    for t, r in enumerate(rows):
        probs[0, 0, t, :3] = torch.tensor(r)
    probs[0, 0, 3:, :] = 0.2  # padding query rows: garbage that must not count
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    want = sum(_h(r) for r in rows) / (3 * math.log(3))
    ae = normalised_entropy(attention_entropy(probs, mask), mask)
    assert ae.item() == pytest.approx(want, rel=1e-6)
    assert 0 <= ae.item() <= 1
    uniform = torch.full((1, 1, 4, 4), 0.25)
    assert normalised_entropy(attention_entropy(uniform, torch.ones(1, 4)), torch.ones(1, 4)).item() == pytest.approx(1.0)
    one = torch.ones(1, 1, 1, 1)  # a one-token example: AE = 0 (not 0/0)
    assert normalised_entropy(attention_entropy(one, torch.ones(1, 1)), torch.ones(1, 1)).item() == 0.0


def test_ae_does_not_change_when_the_sentence_is_padded_longer():
    model, batch = tiny("bert")
    ids = batch["input_ids"][:1, :6]
    longer = torch.cat([ids, torch.zeros(1, 7, dtype=torch.long)], 1)
    out = []
    for x, m in ((ids, torch.ones(1, 6, dtype=torch.long)), (longer, torch.tensor([[1] * 6 + [0] * 7]))):
        with torch.no_grad():
            att = model(input_ids=x, attention_mask=m, output_attentions=True).attentions
        out.append(torch.stack([normalised_entropy(attention_entropy(a, m), m) for a in att]))
    torch.testing.assert_close(out[0], out[1], rtol=1e-5, atol=1e-6)
    assert ((out[0] >= 0) & (out[0] <= 1)).all() and out[0].std() > 0


def test_hies_eq1_by_hand_both_normalisations():
    his = torch.tensor([[0.0, 2.0, 4.0], [1.0, 3.0, 8.0]])
    ae = torch.tensor([[0.2, 0.6, 1.0], [0.4, 0.4, 0.8]])
    a = 0.25
    # global: minmax(his) = his / 8; minmax(ae) = (ae - .2) / .8
    g_his = [[0, .25, .5], [.125, .375, 1]]
    g_ae = [[0, .5, 1], [.25, .25, .75]]
    want = torch.tensor([[a * h + (1 - a) * (1 - e) for h, e in zip(rh, re)] for rh, re in zip(g_his, g_ae)])
    torch.testing.assert_close(hies_paper_score(his, ae, a, "global"), want)
    # per layer: layer 0 his /4, ae (x-.2)/.8; layer 1 his (x-1)/7, ae (x-.4)/.4
    l_his = [[0, .5, 1], [0, 2 / 7, 1]]
    l_ae = [[0, .5, 1], [0, 0, 1]]
    want = torch.tensor([[a * h + (1 - a) * (1 - e) for h, e in zip(rh, re)] for rh, re in zip(l_his, l_ae)])
    torch.testing.assert_close(hies_paper_score(his, ae, a, "layer"), want)
    with pytest.raises(ValueError, match=r"alpha=1.0 outside \[0, 1\)"):
        hies_paper_score(his, ae, 1.0)


def test_hies_parameters_are_checked():
    crit, p = parse_spec("hies:alpha=0.3,norm=layer,n_calib=16")
    assert p == {"alpha": "0.3", "norm": "layer", "n_calib": 16}
    # checked when the spec is parsed (the grid's up-front check), not after fine-tuning
    with pytest.raises(ValueError, match=r"alpha='2' outside \[0, 1\)"):
        parse_spec("hies:alpha=2")
    with pytest.raises(ValueError, match=r"n_calib=0 must be a positive integer"):
        parse_spec("hies:n_calib=0")
    ctx = _ctx()
    with pytest.raises(ValueError, match=r"alpha='2' outside \[0, 1\)"):
        crit.fn(ctx, alpha="2")
    with pytest.raises(ValueError, match=r"alpha='x' is neither 'auto' nor a number"):
        crit.fn(ctx, alpha="x")
    with pytest.raises(ValueError, match=r"norm='rows'; allowed: 'global', 'layer'"):
        crit.fn(ctx, alpha="0.5", norm="rows")


class _Cfg:
    model_type = "bert"
    num_hidden_layers, num_attention_heads, hidden_size, intermediate_size = 2, 3, 12, 24


class _M:
    config = _Cfg()


class _Task:
    main_metric = "accuracy"


def _ctx(validation=None):
    ctx = ScoringContext(model=_M(), task=_Task(), encoded=[], validation=validation)
    ctx.memo[("head_stats", None)] = HeadStats(
        his=torch.tensor([[1.0, 5.0, 2.0], [4.0, 0.5, 3.0]]), his_batch=torch.zeros(2, 3),
        entropy=torch.zeros(2, 3), n_examples=32, n_tokens=100, seconds=0.0,
        entropy_norm=torch.tensor([[0.1, 0.9, 0.5], [0.2, 0.3, 0.8]]))  # ranks heads unlike HIS
    return ctx


def test_ad_is_one_minus_ae_and_keeps_focused_heads():
    ctx = _ctx()
    ad = CRITERIA.get("ad").fn(ctx)
    torch.testing.assert_close(ad, 1 - torch.tensor([[0.1, 0.9, 0.5], [0.2, 0.3, 0.8]]))
    assert ad.flatten().argmin() == 1  # the most diffuse head (AE 0.9) goes first


def test_alpha_auto_is_the_brute_force_best_on_validation(monkeypatch):
    """choose_alpha = argmax over ALPHA_GRID of the mean validation metric of its masks at 10/30/50 %
    (a stub metric that rewards keeping head (0, 1)), recorded in the criterion's info."""
    import hpbench.criteria.hies as mod

    calls = []

    def fake_evaluate(model, task, val, gates, **kw):
        calls.append(gates.clone())
        return {"accuracy": float(gates[0, 1] + 0.1 * gates[1, 0] + 0.01 * gates.sum())}

    monkeypatch.setattr(mod, "evaluate", fake_evaluate)
    ctx = _ctx(validation=[{"x": 1}])
    st = ctx.memo[("head_stats", None)]
    best, value = choose_alpha(ctx, st.his, st.entropy_norm, "global")
    brute = {}
    for a in ALPHA_GRID:
        s = hies_paper_score(st.his, st.entropy_norm, a)
        vals = []
        for sp in SELECT_AT:
            n = round(sp * 6 + 1e-9)
            keep = torch.ones(6, dtype=torch.bool)
            keep[torch.sort(s.flatten().double(), stable=True).indices[:n]] = False
            vals.append(fake_evaluate(None, None, None, keep.view(2, 3).float())["accuracy"])
        brute[a] = sum(vals) / 3
    assert value == pytest.approx(brute)
    assert best == max(ALPHA_GRID, key=lambda a: (brute[a], -ALPHA_GRID.index(a)))
    assert len(set(value.values())) > 1  # the alphas really differ on this table
    from hpbench.criteria.masks import masks_for_sparsities

    crit, params = parse_spec("hies")
    cm = masks_for_sparsities(crit, params, ctx, [0.0, 0.5])
    assert cm.info["alpha"] == best and cm.info["n_calib"] == 32 and "alpha_validation" in cm.info


def test_alpha_auto_needs_validation():
    with pytest.raises(ValueError, match=r"alpha='auto' needs a held-out validation subset"):
        CRITERIA.get("hies").fn(_ctx(validation=None))


@pytest.mark.parametrize("kind", ["bert", "distilbert", "vit", "gpt2"])
def test_l2_equals_the_weight_norm_pruning_removes(kind):
    """||head h||^2 = (sum of squared weights of every matrix) before - after pruning head h alone: pruning removes
    exactly its Q/K/V rows and O columns (biases are vectors, left out of both sides)."""
    import copy

    model, _ = tiny(kind)

    def sq(m):
        return sum(float(p.detach().double().pow(2).sum()) for p in m.parameters() if p.dim() == 2)

    norms = head_weight_norms(model)
    total = sq(model)
    for layer, h in [(0, 0), (1, 2), (2, 3)]:
        keep = torch.ones(norms.shape, dtype=torch.bool)
        keep[layer, h] = False
        removed = total - sq(prune_heads(copy.deepcopy(model), keep))
        assert norms[layer, h].item() ** 2 == pytest.approx(removed, rel=1e-5)
    assert norms.std() > 0


def test_l2_on_grouped_kv_counts_the_shared_kv_head_for_each_query_head():
    """Llama (4 query, 2 KV heads): pruning a whole group removes its Q/K/V/O weights once, so
    sq(h0) + sq(h1) = removed + (K and V of the group) counted a second time."""
    import copy

    model, _ = tiny("llama")
    attn = model.model.layers[0].self_attn
    d = attn.head_dim
    kv = float(attn.k_proj.weight[:d].detach().double().pow(2).sum() + attn.v_proj.weight[:d].detach().double().pow(2).sum())
    norms = head_weight_norms(model).double()

    def sq(m):
        return sum(float(p.detach().double().pow(2).sum()) for p in m.parameters() if p.dim() == 2)

    keep = torch.ones(norms.shape, dtype=torch.bool)
    keep[0, :2] = False
    removed = sq(model) - sq(prune_heads(copy.deepcopy(model), keep))
    assert float(norms[0, 0] ** 2 + norms[0, 1] ** 2) == pytest.approx(removed + kv, rel=1e-5)


@needs_shared
def test_alpha_auto_never_reads_the_reported_dev_set(tiny_model_dir, tmp_path, monkeypatch):
    """The same run on a data folder whose SST-2 dev labels are all flipped: the dev metric changes, the chosen
    alpha and its validation values do not (they come from held-out *training* examples)."""
    import shutil

    from hpbench.run import run_benchmark

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    poisoned = tmp_path / "poisoned" / "glue" / "SST-2"
    poisoned.mkdir(parents=True)
    shutil.copy(SHARED / "glue" / "SST-2" / "train.tsv", poisoned / "train.tsv")
    lines = (SHARED / "glue" / "SST-2" / "dev.tsv").read_text().splitlines()
    flipped = [lines[0]] + [f"{ln.rsplit(chr(9), 1)[0]}\t{1 - int(ln.rsplit(chr(9), 1)[1])}" for ln in lines[1:]]
    (poisoned / "dev.tsv").write_text("\n".join(flipped) + "\n")
    kw = dict(model=tiny_model_dir, task="sst2", criteria=["hies"], sparsities=[0.0, 0.5], seeds=[0], n_train=32,
              epochs=1.0, max_len=32, n_dev=40, n_score=8, n_val=24)
    runs = [run_benchmark(results_dir=str(tmp_path / name), data_root=root, **kw)["results"]
            for name, root in (("clean", str(SHARED)), ("poisoned", str(tmp_path / "poisoned")))]
    main = [r[r["main"] & (r["sparsity"] == 0.0)]["value"].iloc[0] for r in runs]
    assert main[0] == pytest.approx(1 - main[1])  # the dev labels really are flipped for the second run
    assert runs[0]["alpha"].iloc[0] == runs[1]["alpha"].iloc[0]
    assert runs[0]["alpha_validation"].iloc[0] == runs[1]["alpha_validation"].iloc[0]
