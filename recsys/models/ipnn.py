"""IPNN (Qu et al., ICDM 2016): MLP over flattened embeddings and all pairwise inner products."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.models.base import DNNConfig, ProductHead, SparseArch
from recsys.types import ModelOutput


@dataclass(frozen=True)
class IPNNConfig(DNNConfig):
    """DNN tower settings of the product network."""


class IPNN(nn.Module):
    def __init__(self, cfg: IPNNConfig, schema: FeatureSchema, emb: EmbeddingConfig,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.sparse_arch = SparseArch(schema, emb, embed_dense=True, device=device)
        self.head = ProductHead(self.sparse_arch.num_fields, self.sparse_arch.dim, cfg)

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> ModelOutput:
        return ModelOutput(self.head(self.sparse_arch(dense, sparse)))
