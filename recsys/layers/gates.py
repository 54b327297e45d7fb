"""OptFS feature gates (Lyu et al., WWW 2023): one logit ``m`` per embedding row.

Search uses the soft gate ``g = sigmoid(tau * m) / sigmoid(m_init)`` (``g = 1`` at ``tau = 1``
and ``m = m_init``) with the sparsity penalty ``sum_x sigmoid(tau * m_x)``; as ``tau`` grows
the gate approaches the hard gate ``m > 0``, which decides which rows survive.
"""

from __future__ import annotations

import math

import torch


def soft_gate(m: torch.Tensor, tau: float, m_init: float) -> torch.Tensor:
    """``sigmoid(tau * m) / sigmoid(m_init)``, elementwise, same shape as ``m``."""
    return torch.sigmoid(tau * m) * (1.0 + math.exp(-m_init))


def hard_gate(m: torch.Tensor) -> torch.Tensor:
    """The retrain gate: ``True`` where the row is kept (``m > 0``)."""
    return m > 0


def gate_penalty(m: torch.Tensor, tau: float) -> torch.Tensor:
    """``sum sigmoid(tau * m)``: the (soft) number of kept rows, a scalar."""
    return torch.sigmoid(tau * m).sum()


def temperature(epoch: int, search_epochs: int, final_tau: float) -> float:
    """``tau`` of search epoch ``epoch`` (0-based): geometric from 1 to ``final_tau`` at the last one."""
    if search_epochs <= 1:
        return float(final_tau)
    return float(final_tau) ** (min(epoch, search_epochs - 1) / (search_epochs - 1))
