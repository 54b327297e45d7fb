"""OptFS gate math: the soft gate, the hard gate, the penalty and the temperature schedule."""

from __future__ import annotations

import math

import pytest
import torch

from recsys.layers.gates import gate_penalty, hard_gate, soft_gate, temperature


def test_soft_gate_is_one_at_tau_one_and_m_init() -> None:
    m = torch.full((5, 1), 0.5)
    assert torch.allclose(soft_gate(m, 1.0, 0.5), torch.ones(5, 1), atol=1e-7)


def test_soft_gate_tends_to_the_hard_gate_times_the_scale() -> None:
    m = torch.tensor([-0.3, -0.01, 0.02, 0.4])
    g = soft_gate(m, 5000.0, 0.5)
    scale = 1 / (1 / (1 + math.exp(-0.5)))
    assert torch.allclose(g, hard_gate(m).float() * scale, atol=1e-6)


def test_hard_gate_is_m_positive() -> None:
    m = torch.tensor([-1.0, 0.0, 1e-6, 3.0])
    assert hard_gate(m).tolist() == [False, False, True, True]


def test_penalty_counts_open_gates() -> None:
    m = torch.tensor([[-10.0], [10.0], [0.0]])
    assert gate_penalty(m, 1.0).item() == pytest.approx(torch.sigmoid(m).sum().item())
    assert gate_penalty(m, 100.0).item() == pytest.approx(1.5, abs=1e-6)


@pytest.mark.parametrize("epochs", [2, 3, 15])
def test_temperature_is_geometric_from_one_to_final(epochs: int) -> None:
    taus = [temperature(e, epochs, 200.0) for e in range(epochs)]
    assert taus[0] == 1.0 and taus[-1] == pytest.approx(200.0, rel=1e-12)
    ratios = [b / a for a, b in zip(taus, taus[1:])]
    assert all(r == pytest.approx(ratios[0]) for r in ratios)
