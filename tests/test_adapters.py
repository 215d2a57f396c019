"""Every attention adapter on a tiny random config (tests only), eager and sdpa: gated == pruned (a layer with
every head pruned included), HIS = finite difference of the loss w.r.t. the gate, entropy = a hand computation,
a pruned model's save/load round trip, FLOPs = a hand count; an unsupported model_type names itself."""
import math

import pytest
import torch

from hpbench.criteria.stats import attention_entropy
from hpbench.models.flops import encoder_flops
from hpbench.models.heads import HeadGates, from_pretrained, gated, heads_per_layer, prune_heads, save_pretrained

KINDS = ["bert", "distilbert", "vit"]
KEEP = torch.tensor([[1, 0, 1, 1], [0, 0, 0, 0], [0, 1, 1, 0]], dtype=torch.bool)  # layer 1: every head pruned


def tiny(kind: str, attn: str = "eager", seed: int = 0):
    """A tiny random model of ``kind`` (unit tests only; never reported) and an input batch for it."""
    import transformers as T

    torch.manual_seed(seed)
    common = dict(num_labels=3)
    if kind == "bert":
        cfg = T.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
                           max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **common)
        model = T.BertForSequenceClassification(cfg)
    elif kind == "distilbert":
        cfg = T.DistilBertConfig(vocab_size=100, dim=32, n_layers=3, n_heads=4, hidden_dim=64, max_position_embeddings=64,
                                 dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, **common)
        model = T.DistilBertForSequenceClassification(cfg)
    else:
        cfg = T.ViTConfig(image_size=16, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=3,
                          num_attention_heads=4, intermediate_size=64, hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0, **common)
        model = T.ViTForImageClassification(cfg)
    model.set_attn_implementation(attn)
    model.eval()
    g = torch.Generator().manual_seed(seed + 1)
    if kind == "vit":
        return model, {"pixel_values": torch.randn(3, 3, 16, 16, generator=g)}
    ids = torch.randint(1, 100, (3, 9), generator=g)
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 6:] = 0
    return model, {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("kind", KINDS)
def test_gated_equals_physically_pruned(kind, attn):
    model, batch = tiny(kind, attn)
    with torch.no_grad(), gated(model, KEEP.float()):
        want = model(**batch).logits
    p = prune_heads(model, KEEP)
    assert heads_per_layer(p) == [3, 0, 2]
    with torch.no_grad():
        got = p(**batch).logits
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_his_is_the_finite_difference_of_the_loss_wrt_the_gate(kind):
    model, batch = tiny(kind)
    model = model.double()
    batch = {k: (v.double() if v.is_floating_point() else v) for k, v in batch.items()}
    labels = torch.tensor([0, 2, 1])

    def loss(g):
        with HeadGates(model, g):
            return torch.nn.functional.cross_entropy(model(**batch).logits, labels, reduction="sum")

    gates = torch.ones(3, 4, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(loss(gates), gates)
    eps = 1e-5
    for layer, head in [(0, 0), (1, 3), (2, 1)]:
        up, down = torch.ones(3, 4, dtype=torch.float64), torch.ones(3, 4, dtype=torch.float64)
        up[layer, head] += eps
        down[layer, head] -= eps
        with torch.no_grad():
            fd = (loss(up) - loss(down)) / (2 * eps)
        assert abs(float(grad[layer, head]) - float(fd)) <= 1e-4 * max(1.0, abs(float(fd)))


def _first_attention_input(model, batch, kind):
    """The hidden states entering layer 0's attention module (captured with a forward pre-hook)."""
    from hpbench.models.heads import attention_blocks

    block = attention_blocks(model)[0]
    target = block.self if kind == "bert" else block
    seen = {}

    def grab(m, args, kwargs):
        seen.setdefault("x", args[0] if args else kwargs["hidden_states"])

    h = target.register_forward_pre_hook(grab, with_kwargs=True)
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    h.remove()
    return seen["x"], out.attentions[0]


@pytest.mark.parametrize("kind", KINDS)
def test_entropy_equals_a_hand_computation(kind):
    """softmax(q k^T / sqrt(d)) over real keys from layer 0's own Q/K weights, entropy averaged over real queries."""
    model, batch = tiny(kind)
    x, probs = _first_attention_input(model, batch, kind)
    block = __import__("hpbench.models.heads", fromlist=["attention_blocks"]).attention_blocks(model)[0]
    qw, kw = {"bert": (block.self.query, block.self.key) if kind == "bert" else None,
              "distilbert": (block.q_lin, block.k_lin) if kind == "distilbert" else None,
              "vit": (block.q_proj, block.k_proj) if kind == "vit" else None}[kind]
    B, T, _ = x.shape
    mask = batch.get("attention_mask", torch.ones(B, T, dtype=torch.long))
    d = 8
    want = torch.zeros(B, 4)
    for b in range(B):
        n = int(mask[b].sum())
        for h in range(4):
            q = (x[b] @ qw.weight.T + qw.bias)[:, h * d:(h + 1) * d]
            k = (x[b] @ kw.weight.T + kw.bias)[:, h * d:(h + 1) * d]
            ent = 0.0
            for i in range(n):
                s = [float(q[i] @ k[j]) / math.sqrt(d) for j in range(n)]
                z = sum(math.exp(v - max(s)) for v in s)
                p = [math.exp(v - max(s)) / z for v in s]
                ent += -sum(pi * math.log(pi) for pi in p if pi > 0)
            want[b, h] = ent / n
    torch.testing.assert_close(attention_entropy(probs, mask), want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_pruned_model_round_trips_through_save_and_load(kind, tmp_path):
    model, batch = tiny(kind)
    prune_heads(model, KEEP)
    with torch.no_grad():
        want = model(**batch).logits
    save_pretrained(model, tmp_path / "m")
    back = from_pretrained(tmp_path / "m")
    assert heads_per_layer(back) == [3, 0, 2]
    with torch.no_grad():
        torch.testing.assert_close(back(**batch).logits, want, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_flops_equal_a_hand_count(kind):
    """Per layer: 3 x 2 T d (h d_h) + 2 x 2 h T^2 d_h + 2 T (h d_h) d + 2 x 2 T d f; d = 32, d_h = 8, f = 64."""
    model, _ = tiny(kind)
    prune_heads(model, KEEP)
    T, d, dh, f = 10, 32, 8, 64
    hand = sum(6 * T * d * h * dh + 4 * h * T * T * dh + 2 * T * h * dh * d + 4 * T * d * f for h in (3, 0, 2))
    assert encoder_flops(model, 1, T) == hand


def test_an_unsupported_model_type_names_itself_and_the_supported_ones():
    from transformers import GPT2Config, GPT2LMHeadModel

    m = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=20))
    with pytest.raises(TypeError, match=r"'gpt2'.*supported: bert, camembert, distilbert, electra, roberta, vit, xlm-roberta"):
        prune_heads(m, torch.ones(1, 2, dtype=torch.bool))
