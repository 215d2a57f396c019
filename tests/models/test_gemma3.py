"""Gemma 3 beyond the shared matrix (tests/models/test_adapters.py runs its tiny model with d_h = width / heads): a
head width that is not width / heads (Gemma-3-270M: 4 heads of 256 over a width of 640), sliding-window layers."""
import torch

from hpbench.models.heads import gated, heads_per_layer, prune_heads
from tiny_models import KEEP


def _tiny_gemma3():
    import transformers as T

    torch.manual_seed(0)
    cfg = T.Gemma3TextConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                             num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=64,
                             initializer_range=0.3, sliding_window=3, query_pre_attn_scalar=16,
                             layer_types=["sliding_attention", "full_attention", "sliding_attention"])
    model = T.Gemma3ForCausalLM(cfg).eval()
    ids = torch.randint(1, 100, (2, 9), generator=torch.Generator().manual_seed(1))
    return model, {"input_ids": ids}


def test_gated_equals_pruned_with_wide_heads_and_sliding_windows():
    model, batch = _tiny_gemma3()
    with torch.no_grad(), gated(model, KEEP.float()):
        want = model(**batch).logits
    with torch.no_grad():  # the gates change the output: the comparison is not trivially equal to the dense model
        assert not torch.allclose(model(**batch).logits, want, atol=1e-3)
    p = prune_heads(model, KEEP)
    assert heads_per_layer(p) == [3, 0, 2]
    attn = p.model.layers[0].self_attn
    assert attn.q_proj.out_features == 3 * 16 and attn.o_proj.in_features == 3 * 16  # whole 16-wide heads removed
    with torch.no_grad():
        torch.testing.assert_close(p(**batch).logits, want, atol=1e-5, rtol=1e-5)


def test_flops_count_the_head_width_not_width_over_heads():
    """Per layer 2 T d d_h (h + 2 kv) + 4 h T^2 d_h + 2 T h d_h d + 3 x 2 T d f with d_h = 16 (not 32 / 4 = 8)."""
    from hpbench.models.flops import encoder_flops, flops_for_mask

    model, _ = _tiny_gemma3()
    T, d, dh, f = 10, 32, 16, 64
    hand = sum(2 * T * d * dh * (h + 2 * k) + 4 * h * T * T * dh + 2 * T * h * dh * d + 3 * 2 * T * d * f
               for h, k in zip((3, 0, 2), (2, 0, 1)))
    assert flops_for_mask(model.config, KEEP, 1, T) == hand
    prune_heads(model, KEEP)
    assert encoder_flops(model, 1, T) == hand
