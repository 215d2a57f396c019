import copy

import torch

from hpbench.models.flops import encoder_flops
from hpbench.models.heads import prune_heads
from conftest import tiny_model


def test_flops_hand_count_tiny_config():
    m = tiny_model("bert")  # 3 layers, d = 32, 4 heads of 8, FFN 64
    B, T = 2, 5
    per_layer = (3 * 2 * B * T * 32 * 32) + (4 * B * 4 * T * T * 8) + (2 * B * T * 32 * 32) + (4 * B * T * 32 * 64)
    assert encoder_flops(m, B, T) == 3 * per_layer
    keep = torch.ones(3, 4, dtype=torch.bool)
    keep[0, :2] = False   # layer 0: 2 heads left
    keep[1, :] = False    # layer 1: none
    p = prune_heads(copy.deepcopy(m), keep)
    ffn = 4 * B * T * 32 * 64
    l0 = (3 * 2 * B * T * 32 * 16) + (4 * B * 2 * T * T * 8) + (2 * B * T * 16 * 32) + ffn
    assert encoder_flops(p, B, T) == l0 + ffn + per_layer


def test_minilm_half_heads_is_about_18_percent_of_flops():
    from transformers import BertConfig, BertModel

    cfg = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536, vocab_size=100)
    m = BertModel(cfg)
    full = encoder_flops(m, 1, 128)
    keep = torch.ones(6, 12, dtype=torch.bool)
    keep[:, :6] = False
    half = encoder_flops(prune_heads(m, keep), 1, 128)
    assert abs((full - half) / full - 0.184) < 0.005


def test_pareto_front_matches_brute_force():
    import numpy as np

    from hpbench.report.figures import pareto_front

    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 15))
        x, y = rng.integers(0, 6, n).astype(float), rng.integers(0, 6, n).astype(float)  # ties on purpose
        front = set(pareto_front(x, y).tolist())
        # brute force: i is on the front iff no point is at most as costly and scores higher, and no
        # cheaper point scores the same; among exact duplicates one representative is kept
        for i in range(n):
            dominated = any((x[j] <= x[i] and y[j] > y[i]) or (x[j] < x[i] and y[j] >= y[i]) for j in range(n))
            if dominated:
                assert i not in front
            else:
                twins = [j for j in range(n) if x[j] == x[i] and y[j] == y[i]]
                assert len(front.intersection(twins)) == 1
