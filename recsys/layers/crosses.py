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


Group = tuple[int, slice]  # (left field, its right fields: a slice)


class _GroupedProducts(torch.autograd.Function):
    """``(B, F, d) -> (B, P, d)``: ``cat_g(e_left(g) * e_right(g))`` over groups whose right fields
    are a slice, with a backward that adds each group's two gradients into one ``(B, F, d)`` fp32
    buffer (autograd's own backward would zero-fill and add a full ``(B, F, d)`` tensor per slice)."""

    @staticmethod
    def forward(ctx: Any, emb: torch.Tensor, groups: list[Group]) -> torch.Tensor:
        ctx.save_for_backward(emb)
        ctx.groups = groups
        parts = [emb[:, left:left + 1] * emb[:, right] for left, right in groups]
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (emb,) = ctx.saved_tensors
        out = torch.zeros(emb.shape, dtype=torch.float32, device=emb.device)
        start = 0
        for left, right in ctx.groups:
            others = emb[:, right]
            g = grad[:, start:start + others.shape[1]]
            start += others.shape[1]
            out[:, left] += torch.sum(g * others, dim=1, dtype=torch.float32)
            out[:, right] += g * emb[:, left:left + 1]
        return out.to(emb.dtype), None


class _GatheredProducts(torch.autograd.Function):
    """``(B, F, d) -> (B, P, d)``: ``e_I * e_J`` for pair index vectors ``I, J``, in pair order,
    formed field-major: the ``(F, B, d)`` copy of the embeddings makes each gathered slot one
    contiguous ``B x d`` block, and the backward adds the ``2P`` slot gradients per field with two
    ``index_add_`` along that leading axis (block adds, no scatter inside a batch row). The
    batch-major gather with a slot-to-field incidence matmul it replaces spent two ``(B, 2P, d)``
    copies on the way: forward and backward of the products with the MLP input's concatenation at
    B = 4096, alternating in one process with the allocator set as in training, 130 scattered
    pairs (a retrain's) 59-60 -> 43-48 ms, 50 (a seeded search's) 24 -> 18-20 ms."""

    @staticmethod
    def forward(ctx: Any, emb: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        fields = emb.transpose(0, 1).contiguous()  # (F, B, d)
        lhs, rhs = fields.index_select(0, left), fields.index_select(0, right)  # (P, B, d)
        ctx.save_for_backward(lhs, rhs, left, right)
        ctx.num_fields, ctx.dtype = emb.shape[1], emb.dtype
        return (lhs * rhs).transpose(0, 1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        lhs, rhs, left, right = ctx.saved_tensors
        g = grad.transpose(0, 1).contiguous()  # (P, B, d)
        out = torch.zeros((ctx.num_fields, *g.shape[1:]), dtype=torch.float32, device=g.device)
        out.index_add_(0, left, (g * rhs).float())
        out.index_add_(0, right, (g * lhs).float())
        return out.transpose(0, 1).to(ctx.dtype), None, None


class Factorize(nn.Module):
    """``(B, F, d) -> (B, P, d)``: ``e_i * e_j`` for each pair ``(i, j)``, in the given pair order.

    When the pairs, grouped by their first field, have consecutive right fields in pair order
    (all pairs of a field list), each group is one broadcast product ``e_i * e_[j:k]`` and no
    gather happens at all (:class:`_GroupedProducts`); any other pair list (a seeded search's
    scattered pairs: a seeded search, a retrain) gathers both sides field-major once and
    multiplies (:class:`_GatheredProducts`). Products are formed in the autocast precision when on
    (they only feed a matmul and ``B x P x d`` is the largest tensor of the model).
    """

    left: torch.Tensor | None
    right: torch.Tensor | None

    def __init__(self, pairs: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self._groups = _slice_groups(pairs)
        gather = self._groups is None
        self.register_buffer("left", torch.tensor([i for i, _ in pairs], dtype=torch.int64) if gather else None,
                             persistent=False)
        self.register_buffer("right", torch.tensor([j for _, j in pairs], dtype=torch.int64) if gather else None,
                             persistent=False)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        kind = emb.device.type
        if torch.is_autocast_enabled(kind):  # products feed a matmul: form them in its precision
            emb = emb.to(torch.get_autocast_dtype(kind))
        if self._groups is not None:
            return _GroupedProducts.apply(emb, self._groups)
        assert self.left is not None and self.right is not None
        return _GatheredProducts.apply(emb, self.left, self.right)


def _slice_groups(pairs: Sequence[tuple[int, int]]) -> list[Group] | None:
    """``pairs`` as runs ``(i, j..k)`` of one first field and consecutive right fields, in pair
    order; None when they are not."""
    groups: list[Group] = []
    for i, j in pairs:
        if groups and groups[-1][0] == i and groups[-1][1].stop == j:
            groups[-1] = (i, slice(groups[-1][1].start, j + 1))
        elif any(left == i for left, _ in groups):
            return None
        else:
            groups.append((i, slice(j, j + 1)))
    return groups


def annealed_temperature(step: int, t_min: float, rate: float) -> float:
    """The search temperature after ``step`` steps: ``max(t_min, 1 - rate * step)``."""
    return max(t_min, 1.0 - rate * step)


class _MixedPairs(torch.autograd.Function):
    """``w_m * mem + w_f * fac`` per pair, ``(B, P, d) -> (B, P d)``, as products with ``(1, P d)``
    weight rows.

    At the all-pairs search's shape (B 4096, P 325, d 8) each ``(B, P, d)`` tensor is 21-42 MB,
    beyond the cache, so the mixture costs its passes over them. Autograd's version of
    ``mem * w[:, 0, None] + fac * w[:, 1, None]`` broadcast a ``(P, 1)`` weight against an inner
    dim of 8 (16 ms a product in the step's profile, four a step), reduced the weights' gradients
    over dims (0, 2), and returned fp32, which the first matmul then copied to bf16. Here every
    product runs on flat rows, the weights' gradients are column sums (accumulated in fp32), and
    the result is in ``fac``'s dtype (the autocast precision when on)."""

    @staticmethod
    def forward(ctx: Any, mem: torch.Tensor, fac: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, p, d = fac.shape
        rows = w[:, :2].t().repeat_interleave(d, dim=1).to(fac.dtype)  # (2, P d): each pair's weight d times
        m, f = mem.reshape(b, p * d).to(fac.dtype), fac.reshape(b, p * d)
        ctx.save_for_backward(m, f, rows)
        ctx.mem_dtype, ctx.pd = mem.dtype, (p, d)
        return torch.mul(m, rows[0]).addcmul_(f, rows[1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m, f, rows = ctx.saved_tensors
        (p, d), b = ctx.pd, grad.shape[0]
        grad = grad.to(m.dtype)
        dw = torch.zeros(p, 3, dtype=torch.float32, device=grad.device)
        for k, x in enumerate((m, f)):  # column sums accumulate in fp32 inside (a dtype= argument copies first)
            dw[:, k] = torch.mul(grad, x).sum(0).float().view(p, d).sum(1)
        dmem = torch.mul(grad, rows[0]).to(ctx.mem_dtype)  # the table's dtype (fbgemm's fp32)
        return dmem.view(b, p, d), torch.mul(grad, rows[1]).view(b, p, d), dw


class MethodMixture(nn.Module):
    """``(B, P, d)`` memorized and factorized pairs -> their mix ``w_m * mem + w_f * fac`` (+ ``w_n * 0``),
    ``w = softmax(alpha / t)`` per pair, ``alpha`` of shape ``(P, 3)`` (memorize, factorize, naive).

    ``t`` is set by the trainer's annealing hook before every step. (Folding the weights into
    the next layer's columns, ``W diag(w)``, saves scaling the activations but costs two
    matmuls instead of one: the all-pairs search step was slower with it.)
    """

    METHODS = ("memorize", "factorize", "naive")

    def __init__(self, num_pairs: int) -> None:
        super().__init__()
        self.arch_alpha = nn.Parameter(nn.init.xavier_normal_(torch.empty(num_pairs, 3)))
        self.t = 1.0

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.arch_alpha.float() / self.t, dim=1)

    def forward(self, memorized: torch.Tensor, factorized: torch.Tensor) -> torch.Tensor:
        """``(B, P, d)`` each -> ``(B, P, d)`` in ``factorized``'s dtype (the autocast precision when on:
        the mix only feeds the MLP's matmul)."""
        out = _MixedPairs.apply(memorized, factorized, self.weights())
        assert isinstance(out, torch.Tensor)
        return out.view(factorized.shape)

    def choice(self, naive_margin: float = 0.0) -> list[str]:
        """Each pair's method: the better of memorize and factorize if its weight beats naive's
        by ``naive_margin``, else naive (``0``: the argmax)."""
        return choose_methods(self.weights().detach(), naive_margin)


def choose_methods(weights: torch.Tensor, naive_margin: float = 0.0) -> list[str]:
    """``(P, 3)`` mixture weights (memorize, factorize, naive) -> one method per pair."""
    best = weights[:, :2].argmax(dim=1)
    keep = weights[:, :2].max(dim=1).values - weights[:, 2] >= max(naive_margin, 1e-12)
    return [MethodMixture.METHODS[int(b)] if k else "naive" for b, k in zip(best.tolist(), keep.tolist())]
