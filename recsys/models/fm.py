"""Factorization machine (Rendle, 2010): first-order term + ``sum_{i<j} <e_i, e_j>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.layers import FactorizationMachine
from recsys.models.base import LinearArch, SparseArch
from recsys.types import ModelOutput


@dataclass(frozen=True)
class FMConfig:
    """FM has no hyperparameters beyond training and embedding settings."""


class FM(nn.Module):
    def __init__(self, cfg: FMConfig, schema: FeatureSchema, emb: EmbeddingConfig,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.sparse_arch = SparseArch(schema, emb, embed_dense=True, device=device)
        self.linear = LinearArch(schema, emb, device)
        self.fm = FactorizationMachine()

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> ModelOutput:
        emb = self.sparse_arch(dense, sparse)
        return ModelOutput(self.linear(dense, sparse) + self.fm(emb))
