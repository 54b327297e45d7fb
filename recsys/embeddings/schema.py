"""Field embeddings of a :class:`~recsys.features.schema.FeatureSchema` (re-exported here)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from recsys.embeddings.module import FieldEmbedding
from recsys.embeddings.strategies import EmbeddingConfig, plan_tables
from recsys.features.schema import FeatureSchema


def field_embedding(schema: FeatureSchema, cfg: EmbeddingConfig, dim: Optional[int] = None,
                    prefix: str = "", device: Optional[torch.device] = None) -> FieldEmbedding:
    """A :class:`FieldEmbedding` of ``schema``'s fields under strategy ``cfg`` (width ``dim``)."""
    return FieldEmbedding(plan_tables(schema.cards, cfg, schema.encoding, dim, prefix), device)


class DenseEmbedding(nn.Module):
    """Dense values as field embeddings: ``(B, Nd) -> (B, Nd, D)``, ``x_i * v_i`` (AutoInt)."""

    def __init__(self, num_dense: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_dense, dim).uniform_(-0.05, 0.05))

    def forward(self, dense: torch.Tensor) -> torch.Tensor:
        return dense.unsqueeze(-1) * self.weight


__all__ = ["DenseEmbedding", "FeatureSchema", "field_embedding"]
