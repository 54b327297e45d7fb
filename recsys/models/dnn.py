"""DNN: flattened field embeddings (and dense values) through an MLP; no explicit interactions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.layers import MLP
from recsys.models.base import DNNConfig, SparseArch
from recsys.types import ModelOutput


@dataclass(frozen=True)
class DNNModelConfig(DNNConfig):
    """Only the DNN tower settings."""


class DNN(nn.Module):
    def __init__(self, cfg: DNNModelConfig, schema: FeatureSchema, emb: EmbeddingConfig,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.sparse_arch = SparseArch(schema, emb, embed_dense=False, device=device)
        self.mlp = MLP(self.sparse_arch.flat_dim, cfg.dnn_hidden_units, 1, cfg.net_dropout, cfg.batch_norm)

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> ModelOutput:
        emb = self.sparse_arch(dense, sparse)
        return ModelOutput(self.mlp(self.sparse_arch.with_raw_dense(emb.flatten(1), dense)).squeeze(-1))
