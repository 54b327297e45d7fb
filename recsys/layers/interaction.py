"""Pairwise interactions of field embeddings."""

from __future__ import annotations

import torch
from torch import nn


class FactorizationMachine(nn.Module):
    """FM second-order term: ``0.5 * sum_d [(sum_f e_fd)^2 - sum_f e_fd^2]``, ``(B, F, D) -> (B,)``.

    Equals ``sum_{i<j} <e_i, e_j>`` in O(F D) instead of O(F^2 D) (Rendle, 2010).
    """

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        square_of_sum = emb.sum(dim=1).pow(2)
        sum_of_square = emb.pow(2).sum(dim=1)
        return 0.5 * (square_of_sum - sum_of_square).sum(dim=1)


class InnerProduct(nn.Module):
    """All pairwise inner products ``<e_i, e_j>``, ``i < j``: ``(B, F, D) -> (B, F(F-1)/2)`` (IPNN)."""

    flat: torch.Tensor

    def __init__(self, num_fields: int) -> None:
        super().__init__()
        rows, cols = torch.triu_indices(num_fields, num_fields, offset=1)
        # One flat index_select (its backward is an index_add) instead of 2-D fancy indexing,
        # whose index_put backward dominated FGCNN's step on CPU.
        self.register_buffer("flat", rows * num_fields + cols, persistent=False)
        self.num_pairs = int(rows.numel())

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        gram = torch.bmm(emb, emb.transpose(1, 2))
        return gram.flatten(1).index_select(1, self.flat)
