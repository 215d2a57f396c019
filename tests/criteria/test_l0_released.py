"""``l0`` follows the DSP authors' PyTorch port of Voita et al. (gated_bert_utilities.ConcreteGate, run_voita.py,
pruning_utils.convert_gate_to_mask): each formula against a numpy transcription of the port's."""
import math

import numpy as np
import pytest
import torch

from hpbench.criteria.l0 import BETA, EPS, expected_l0, hard_concrete_sample, init_log_alpha, test_gate

LOW, HIGH = -0.1, 1.1


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_the_ports_constants():
    assert BETA == 0.33 and EPS == 1e-6


def test_training_gate_equals_the_ports_get_gates():
    g = torch.Generator().manual_seed(0)
    la = torch.randn(4, 6, generator=g, dtype=torch.double) * 2
    u = (1 - 2 * EPS) * torch.rand(4, 6, generator=g, dtype=torch.double) + EPS  # the port's noise
    want = np.clip(_sigmoid((np.log(u.numpy()) - np.log(1 - u.numpy()) + la.numpy()) / 0.33) * (HIGH - LOW) + LOW, 0, 1)
    np.testing.assert_allclose(hard_concrete_sample(la, u).numpy(), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(test_gate(la).numpy(), np.clip(_sigmoid(la.numpy()) * (HIGH - LOW) + LOW, 0, 1),
                               rtol=1e-12, atol=1e-12)


def test_penalty_equals_the_ports_sum_over_layers_of_clamped_p_open():
    la = torch.tensor([[-30.0, 0.0, 2.0], [30.0, -1.0, 0.5]], dtype=torch.double)
    p_open = np.clip(_sigmoid(la.numpy() - 0.33 * np.log(-LOW / HIGH)), 1e-6, 1 - 1e-6)
    total = sum(p_open[layer].sum() for layer in range(2))  # GatedBertEncoder adds each layer's penalty
    assert float(expected_l0(la).sum()) == pytest.approx(total, rel=1e-12)
    assert float(expected_l0(la)[0, 0]) == 1e-6 and float(expected_l0(la)[1, 0]) == 1 - 1e-6  # the clamp


def test_log_alpha_starts_xavier_uniform_as_a_1_x_heads_x_1_x_1_parameter():
    la = init_log_alpha(12, 12, torch.Generator().manual_seed(0))
    bound = math.sqrt(6 / (12 + 1))  # fan_in = 12 heads x 1 x 1, fan_out = 1 x 1 x 1
    assert la.abs().max() <= bound and la.abs().max() > 0.9 * bound
    ref = torch.empty(1, 12, 1, 1)
    torch.nn.init.xavier_uniform_(ref)  # the port's call on the port's shape has the same bound
    assert ref.abs().max() <= bound


def test_each_level_keeps_the_heads_with_the_largest_test_gates_as_convert_gate_to_mask():
    from hpbench.criteria.dsp import hard_topk_mask

    la = torch.rand(3, 4, generator=torch.Generator().manual_seed(2)) * 4 - 2  # no gate saturated at 0 or 1
    gates = test_gate(la)
    assert ((gates > 0) & (gates < 1)).all()
    for k in range(13):
        order = np.argsort(-gates.flatten().numpy())[:k]  # pruning_utils.convert_gate_to_mask(gates, k)
        want = np.zeros(12, dtype=bool)
        want[order] = True
        assert hard_topk_mask(la, k).flatten().numpy().tolist() == want.tolist()
    # saturated gates tie in the port's sort; log_alpha (which the gate is monotone in) breaks the tie
    la2 = torch.tensor([[-9.0, -7.0, 0.0, 8.0]])
    assert test_gate(la2)[0, 0] == test_gate(la2)[0, 1] == 0 and hard_topk_mask(la2, 3).tolist() == [[False, True, True, True]]
