"""OptInter's three ways to model a field pair (Lyu et al., ICDE 2022), as pure tensor modules.

* memorize: an embedding of the cross value (looked up by :class:`recsys.embeddings.crosses.CrossEmbedding`);
* factorize: the Hadamard product ``e_i * e_j`` of the two fields' embeddings (:class:`Factorize`);
* naive: nothing.

During the search :class:`MethodMixture` weighs them per pair with ``softmax(alpha / t)``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class Factorize(nn.Module):
    """``(B, F, d) -> (B, P, d)``: ``e_i * e_j`` for each pair ``(i, j)``.

    The gathers run field-major (``(F, B, d)``, whole ``B x d`` blocks), so their backward
    adds contiguous blocks instead of scattering ``d``-wide pieces into every row; the result
    is a ``(B, P, d)`` view of the ``(P, B, d)`` products, in the autocast precision when on
    (they only feed a matmul, and ``P x B x d`` is the largest tensor of the model)."""

    left: torch.Tensor
    right: torch.Tensor

    def __init__(self, pairs: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self.register_buffer("left", torch.tensor([i for i, _ in pairs], dtype=torch.int64), persistent=False)
        self.register_buffer("right", torch.tensor([j for _, j in pairs], dtype=torch.int64), persistent=False)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        fields = emb.transpose(0, 1)
        kind = emb.device.type
        if torch.is_autocast_enabled(kind):  # products feed a matmul: form them in its precision
            fields = fields.to(torch.get_autocast_dtype(kind))
        fields = fields.contiguous()
        return (fields.index_select(0, self.left) * fields.index_select(0, self.right)).transpose(0, 1)


def annealed_temperature(step: int, t_min: float, rate: float) -> float:
    """The search temperature after ``step`` steps: ``max(t_min, 1 - rate * step)``."""
    return max(t_min, 1.0 - rate * step)


class MethodMixture(nn.Module):
    """``(B, P, d)`` memorized and factorized pairs -> their mix ``w_m * mem + w_f * fac`` (+ ``w_n * 0``),
    ``w = softmax(alpha / t)`` per pair, ``alpha`` of shape ``(P, 3)`` (memorize, factorize, naive).

    ``t`` is set by the trainer's annealing hook before every step. When the mix feeds a
    linear layer ``W``, :meth:`fold` moves the weights into ``W``'s columns instead: ``W (w * x)
    = (W diag(w)) x`` scales ``H x P d`` weights rather than ``B x P x d`` activations.
    """

    METHODS = ("memorize", "factorize", "naive")

    def __init__(self, num_pairs: int) -> None:
        super().__init__()
        self.arch_alpha = nn.Parameter(nn.init.xavier_normal_(torch.empty(num_pairs, 3)))
        self.t = 1.0

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.arch_alpha.float() / self.t, dim=1)

    def forward(self, memorized: torch.Tensor, factorized: torch.Tensor) -> torch.Tensor:
        w = self.weights().to(memorized.dtype)
        return memorized * w[:, 0, None] + factorized * w[:, 1, None]

    def fold(self, weight: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``weight`` ``(H, P * dim)`` -> its columns scaled by ``w_m`` and by ``w_f`` (per pair)."""
        w = self.weights().to(weight.dtype)
        return weight * w[:, 0].repeat_interleave(dim), weight * w[:, 1].repeat_interleave(dim)

    def choice(self, naive_margin: float = 0.0) -> list[str]:
        """Each pair's method: the better of memorize and factorize if its weight beats naive's
        by ``naive_margin``, else naive (``0``: the argmax)."""
        return choose_methods(self.weights().detach(), naive_margin)


def choose_methods(weights: torch.Tensor, naive_margin: float = 0.0) -> list[str]:
    """``(P, 3)`` mixture weights (memorize, factorize, naive) -> one method per pair."""
    best = weights[:, :2].argmax(dim=1)
    keep = weights[:, :2].max(dim=1).values - weights[:, 2] >= max(naive_margin, 1e-12)
    return [MethodMixture.METHODS[int(b)] if k else "naive" for b, k in zip(best.tolist(), keep.tolist())]
