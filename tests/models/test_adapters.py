"""Every attention adapter on a tiny random config (tests only), eager and sdpa: gated == pruned (a layer with
every head pruned included), HIS = finite difference of the loss w.r.t. the gate, entropy = a hand computation,
a pruned model's save/load round trip, FLOPs = a hand count; an unsupported model_type names itself."""
import math

import pytest
import torch

from hpbench.criteria.stats import attention_entropy
from hpbench.models.flops import encoder_flops
from hpbench.models.heads import HeadGates, from_pretrained, gated, heads_per_layer, prune_heads, save_pretrained

from tiny_models import DECODERS, EAGER_ONLY, KEEP, KINDS, tiny  # noqa: F401 - one tiny model per architecture record


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("kind", KINDS)
def test_gated_equals_physically_pruned(kind, attn):
    if attn == "sdpa" and kind in EAGER_ONLY:
        pytest.skip(f"{kind} has no sdpa attention in transformers")
    model, batch = tiny(kind, attn)
    with torch.no_grad(), gated(model, KEEP.float()):
        want = model(**batch).logits
    p = prune_heads(model, KEEP)
    assert heads_per_layer(p) == [3, 0, 2]
    with torch.no_grad():
        got = p(**batch).logits
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def _float64_norms(model):
    """RMSNorm computes in float32 whatever the input (decoders): in float64 here, so a finite difference of the
    loss is not drowned in float32 rounding (the gate derivative is what the test checks)."""
    import types

    def fwd(self, h):
        if hasattr(self, "variance_epsilon"):  # Llama's: w x / rms(x)
            return self.weight * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))
        return (1.0 + self.weight) * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps))  # Gemma's: (1 + w)

    for m in model.modules():
        if type(m).__name__.endswith("RMSNorm"):
            m.forward = types.MethodType(fwd, m)
    return model


@pytest.mark.parametrize("kind", KINDS)
def test_his_is_the_finite_difference_of_the_loss_wrt_the_gate(kind):
    # transformers' default init (0.02): with larger weights the loss grows and eager attention's float32 softmax
    # rounding (relative 1e-7 of the loss) divided by eps swamps the 1e-4 tolerance
    model, batch = tiny(kind, init_range=0.02)
    model = _float64_norms(model.double())
    batch = {k: (v.double() if v.is_floating_point() else v) for k, v in batch.items()}
    def loss(g):
        with HeadGates(model, g):
            logits = model(**batch).logits
            target = torch.arange(logits[..., 0].numel()).view(logits.shape[:-1]) % logits.shape[-1]  # fixed targets
            return torch.nn.functional.cross_entropy(logits.flatten(0, -2), target.flatten(), reduction="sum")

    gates = torch.ones(3, 4, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(loss(gates), gates)
    eps = 1e-3  # central difference: truncation O(eps^2); eager attention's float32 softmax adds ~1e-7 noise / eps
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
    target = block.self if kind in ("bert", "deberta-v2") else block
    seen = {}

    def grab(m, args, kwargs):
        seen.setdefault("x", args[0] if args else kwargs["hidden_states"])

    h = target.register_forward_pre_hook(grab, with_kwargs=True)
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    h.remove()
    return seen["x"], out.attentions[0]


def _rope(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary position embedding by hand: x [T, d] at positions 0..T-1 (half-split rotation, as Llama)."""
    T, d = x.shape
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    rot = torch.cat([-x[:, d // 2:], x[:, : d // 2]], -1)
    return (x.double() * cos + rot.double() * sin).float()


def _qk(kind, block, x):
    """All heads' queries and keys of layer 0 by hand from its weights ([T, heads x d] each)."""
    if kind == "gpt2":
        qkv = x @ block.c_attn.weight + block.c_attn.bias  # Conv1D: x W + b, [Q | K | V]
        return qkv[:, :32].detach(), qkv[:, 32:64].detach()
    qw, kw = {"bert": lambda: (block.self.query, block.self.key), "distilbert": lambda: (block.q_lin, block.k_lin),
              "deberta-v2": lambda: (block.self.query_proj, block.self.key_proj), "mpnet": lambda: (block.q, block.k)}.get(
        kind, lambda: (block.q_proj, block.k_proj))()
    lin = lambda w: (x @ w.weight.T + (w.bias if w.bias is not None else 0)).detach()  # noqa: E731
    if kind == "gemma3":  # an RMSNorm over each head's d_h entries (one weight for all heads), before RoPE
        T = x.shape[0]
        norm = lambda v, n: (v.view(T, -1, 8) * torch.rsqrt(v.view(T, -1, 8).pow(2).mean(-1, keepdim=True) + n.eps)  # noqa: E731
                             * (1.0 + n.weight)).reshape(T, -1).detach()
        return norm(lin(qw), block.q_norm), norm(lin(kw), block.k_norm)
    return lin(qw), lin(kw)


@pytest.mark.parametrize("kind", KINDS)
def test_entropy_equals_a_hand_computation(kind):
    """softmax(q k^T / sqrt(d)) over real (decoders: causal) keys from layer 0's own Q/K weights (decoders: RoPE,
    query head h reading KV head h // 2), entropy averaged over real queries. (DeBERTa-v2 with content attention
    only: its relative-position terms are checked by the gated == pruned test.)"""
    from hpbench.models.heads import attention_blocks

    model, batch = tiny(kind, relative=False)
    x, probs = _first_attention_input(model, batch, kind)
    block = attention_blocks(model)[0]
    B, T, _ = x.shape
    mask = batch.get("attention_mask", torch.ones(B, T, dtype=torch.long))
    d, dec, causal = 8, kind in DECODERS, kind in DECODERS + ["gpt2"]
    # MPNet adds a relative position bias per head, computed once by the encoder from the sequence length
    bias = model.mpnet.encoder.compute_position_bias(x).detach() if kind == "mpnet" else torch.zeros(B, 4, T, T)
    want = torch.zeros(B, 4)
    for b in range(B):
        n = int(mask[b].sum())
        qa, ka = _qk(kind, block, x[b])
        for h in range(4):
            kh = h // 2 if dec else h
            q, k = qa[:, h * d:(h + 1) * d], ka[:, kh * d:(kh + 1) * d]
            if dec:
                rp = model.config.rope_parameters
                theta = (rp.get("full_attention", rp))["rope_theta"]  # Gemma 3: one per layer type (layer 0 is full)
                q, k = _rope(q, theta), _rope(k, theta)
            ent = 0.0
            for i in range(n):
                s = [float(q[i] @ k[j]) / math.sqrt(d) + float(bias[b, h, i, j]) for j in range(i + 1 if causal else n)]
                z = sum(math.exp(v - max(s)) for v in s)
                ent += -sum(p * math.log(p) for p in (math.exp(v - max(s)) / z for v in s) if p > 0)
            want[b, h] = ent / n
    torch.testing.assert_close(attention_entropy(probs, mask), want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("saver", ["hpbench", "transformers"])
@pytest.mark.parametrize("kind", KINDS)
def test_pruned_model_round_trips_through_save_and_load(kind, saver, tmp_path):
    """Saved by hpbench.save_pretrained or by transformers' own model.save_pretrained (which writes ViT's legacy
    key names), hpbench.from_pretrained gives back the same heads and the same logits."""
    import hpbench

    model, batch = tiny(kind)
    prune_heads(model, KEEP)
    with torch.no_grad():
        want = model(**batch).logits
    hpbench.save_pretrained(model, tmp_path / "m") if saver == "hpbench" else model.save_pretrained(tmp_path / "m")
    back = hpbench.from_pretrained(tmp_path / "m")
    assert type(back) is type(model)
    assert heads_per_layer(back) == [3, 0, 2]
    with torch.no_grad():
        torch.testing.assert_close(back(**batch).logits, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("saver", ["hpbench", "transformers"])
def test_a_pruned_vit_base_model_reloads_however_it_was_saved(saver, tmp_path):
    """The reported case: a pruned ``ViTModel`` (no head) saved with transformers' save_pretrained."""
    import transformers as T

    import hpbench

    torch.manual_seed(0)
    model = T.ViTModel(T.ViTConfig(image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=3,
                                   num_attention_heads=4, intermediate_size=64)).eval()
    prune_heads(model, KEEP)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = model(pixel_values=x).last_hidden_state
    hpbench.save_pretrained(model, tmp_path / "m") if saver == "hpbench" else model.save_pretrained(tmp_path / "m")
    back = hpbench.from_pretrained(tmp_path / "m")
    with torch.no_grad():
        torch.testing.assert_close(back(pixel_values=x).last_hidden_state, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_flops_equal_a_hand_count(kind):
    """Per layer: 2 T d d_h (h + 2 kv) + 2 x 2 h T^2 d_h + 2 T (h d_h) d + m x 2 T d f; d = 32, d_h = 8, f = 64;
    kv = h and m = 2 for encoders; decoders: kv = KV heads left (2, 0, 1: a whole group went in layer 2), m = 3."""
    from hpbench.models.flops import flops_for_mask

    model, _ = tiny(kind)
    config = model.config
    T, d, dh, f = 10, 32, 8, 64
    kv, m = ((2, 0, 1), 3) if kind in DECODERS else ((3, 0, 2), 2)
    hand = sum(2 * T * d * dh * (h + 2 * k) + 4 * h * T * T * dh + 2 * T * h * dh * d + m * 2 * T * d * f
               for h, k in zip((3, 0, 2), kv))
    assert flops_for_mask(config, KEEP, 1, T) == hand
    prune_heads(model, KEEP)
    assert encoder_flops(model, 1, T) == hand


def test_an_unsupported_model_type_names_itself_and_the_supported_ones():
    from transformers import T5Config, T5Model

    m = T5Model(T5Config(num_layers=1, num_heads=2, d_model=8, d_kv=4, d_ff=8, vocab_size=20))
    with pytest.raises(TypeError, match=r"'t5'.*supported: bert, camembert, deberta-v2, distilbert, electra, gemma3_text, gpt2, llama, mistral, mpnet, "
                                        r"qwen2, roberta, vit, xlm-roberta"):
        prune_heads(m, torch.ones(1, 2, dtype=torch.bool))


def test_gqa_keeps_a_kv_head_while_a_query_head_of_its_group_is_left():
    from hpbench.models.heads import attention_blocks, pruned

    model, batch = tiny("llama")
    with pruned(model, KEEP) as p:
        blocks = attention_blocks(p)
        assert [b.k_proj.out_features // 8 for b in (blocks[0], blocks[2])] == [2, 1]
        assert blocks[0].hpbench_kv_index.tolist() == [0, 1, 1] and blocks[2].hpbench_kv_index.tolist() == [0, 0]
        assert p.config._attn_implementation == "hpbench_gqa"
    assert model.config._attn_implementation == "eager" and not hasattr(attention_blocks(model)[0], "hpbench_kv_index")


def test_deberta_entropy_with_relative_attention_equals_a_hand_computation():
    """DeBERTa-v2's disentangled attention by hand (He et al. 2021, eq. 4): score_ij = (q_i k_j + q_i pk_(i-j)
    + k_j pq_(i-j)) / sqrt(3 d), with pk/pq the relative embeddings through pos_key_proj/pos_query_proj (offset
    by the attention span, i - j never clamped at these lengths); entropy over real queries and keys."""
    from hpbench.models.heads import attention_blocks

    model, batch = tiny("deberta-v2")
    block = attention_blocks(model)[0]
    seen = {}

    def grab(m, args, kwargs):
        seen.setdefault("x", args[0] if args else kwargs["hidden_states"])
        seen.setdefault("rel", kwargs["rel_embeddings"])

    h = block.self.register_forward_pre_hook(grab, with_kwargs=True)
    with torch.no_grad():
        probs = model(**batch, output_attentions=True).attentions[0]
    h.remove()
    sa, d, span = block.self, 8, block.self.pos_ebd_size
    lin = lambda w, x: (x @ w.weight.T + w.bias).detach()  # noqa: E731
    rel = seen["rel"][: 2 * span]
    pk, pq = lin(sa.pos_key_proj, rel), lin(sa.pos_query_proj, rel)
    mask = batch["attention_mask"]
    want = torch.zeros(3, 4)
    for b in range(3):
        n = int(mask[b].sum())
        q, k = lin(sa.query_proj, seen["x"][b]), lin(sa.key_proj, seen["x"][b])
        for hd in range(4):
            c = slice(hd * d, (hd + 1) * d)
            ent = 0.0
            for i in range(n):
                s = [float(q[i, c] @ k[j, c] + q[i, c] @ pk[i - j + span, c] + k[j, c] @ pq[i - j + span, c])
                     / math.sqrt(3 * d) for j in range(n)]
                z = sum(math.exp(v - max(s)) for v in s)
                ent += -sum(p * math.log(p) for p in (math.exp(v - max(s)) / z for v in s) if p > 0)
            want[b, hd] = ent / n
    torch.testing.assert_close(attention_entropy(probs, mask), want, atol=1e-4, rtol=1e-4)
