"""OptInter's three ways to model a field pair (Lyu et al., ICDE 2022), as pure tensor modules.

* memorize: an embedding of the cross value (looked up by :class:`recsys.embeddings.crosses.CrossEmbedding`);
* factorize: the Hadamard product ``e_i * e_j`` of the two fields' embeddings (:class:`Factorize`);
* naive: nothing.

During the search :class:`MethodMixture` weighs them per pair with ``softmax(alpha / t)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn


Group = tuple[int, "slice | torch.Tensor"]  # (left field, right fields: a slice or an index tensor)


def _right(emb: torch.Tensor, right: slice | torch.Tensor) -> torch.Tensor:
    return emb[:, right] if isinstance(right, slice) else emb.index_select(1, right)


class _GroupedProducts(torch.autograd.Function):
    """``(B, F, d) -> (B, P, d)``: ``cat_g(e_left(g) * e_right(g))``, with a backward that adds
    each group's two gradients into one ``(B, F, d)`` fp32 buffer (autograd's own backward
    would zero-fill and add a full ``(B, F, d)`` tensor per slice)."""

    @staticmethod
    def forward(ctx: Any, emb: torch.Tensor, groups: list[Group]) -> torch.Tensor:
        ctx.save_for_backward(emb)
        ctx.groups = groups
        parts = [emb[:, left:left + 1] * _right(emb, right) for left, right in groups]
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (emb,) = ctx.saved_tensors
        out = torch.zeros(emb.shape, dtype=torch.float32, device=emb.device)
        start = 0
        for left, right in ctx.groups:
            others = _right(emb, right)
            g = grad[:, start:start + others.shape[1]]
            start += others.shape[1]
            out[:, left] += torch.sum(g * others, dim=1, dtype=torch.float32)
            part = g * emb[:, left:left + 1]
            if isinstance(right, slice):
                out[:, right] += part
            else:
                out.index_add_(1, right, part.float())
        return out.to(emb.dtype), None


class Factorize(nn.Module):
    """``(B, F, d) -> (B, P, d)``: ``e_i * e_j`` for each pair ``(i, j)``, in the given pair order.

    Pairs are grouped by their first field: one broadcast product ``e_i * e_[j...]`` per group,
    whose right fields are a slice when they are consecutive (all pairs of a field list: no
    gather at all). The products are batch-major, so the caller's ``(B, P * d)`` reshape is
    free, and formed in the autocast precision when on (they only feed a matmul and
    ``B x P x d`` is the largest tensor of the model). A final gather restores the pair order
    only when grouping changed it.
    """

    order: torch.Tensor | None

    def __init__(self, pairs: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        grouped = sorted(range(len(pairs)), key=lambda k: (pairs[k][0], k))
        self._groups: list[tuple[int, slice | str]] = []  # right fields: a slice or a buffer's name
        for n, left in enumerate(dict.fromkeys(pairs[k][0] for k in grouped)):
            right = [pairs[k][1] for k in grouped if pairs[k][0] == left]
            if right == list(range(right[0], right[0] + len(right))):
                self._groups.append((left, slice(right[0], right[-1] + 1)))
            else:
                self.register_buffer(f"right_{n}", torch.tensor(right, dtype=torch.int64), persistent=False)
                self._groups.append((left, f"right_{n}"))
        position = torch.empty(len(pairs), dtype=torch.int64)
        position[torch.tensor(grouped, dtype=torch.int64)] = torch.arange(len(pairs))
        identity = grouped == list(range(len(pairs)))
        self.register_buffer("order", None if identity else position, persistent=False)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        kind = emb.device.type
        if torch.is_autocast_enabled(kind):  # products feed a matmul: form them in its precision
            emb = emb.to(torch.get_autocast_dtype(kind))
        groups: list[Group] = [(left, r if isinstance(r, slice) else getattr(self, r)) for left, r in self._groups]
        out = _GroupedProducts.apply(emb, groups)
        return out if self.order is None else out.index_select(1, self.order)


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
