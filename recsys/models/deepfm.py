"""DeepFM (Guo et al., IJCAI 2017): ``logit = LR + FM(E) + MLP(flatten(E))`` on shared embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.layers import MLP, FactorizationMachine
from recsys.models.base import DNNConfig, LinearArch, SparseArch
from recsys.types import ModelOutput


@dataclass(frozen=True)
class DeepFMConfig(DNNConfig):
    """DNN tower settings; embeddings are shared by the FM and DNN parts."""


class DeepFM(nn.Module):
    def __init__(self, cfg: DeepFMConfig, schema: FeatureSchema, emb: EmbeddingConfig,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.sparse_arch = SparseArch(schema, emb, embed_dense=True, device=device)
        self.linear = LinearArch(schema, emb, device)
        self.fm = FactorizationMachine()
        in_dim = self.sparse_arch.num_fields * self.sparse_arch.dim
        self.mlp = MLP(in_dim, cfg.dnn_hidden_units, 1, cfg.net_dropout, cfg.batch_norm)

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> ModelOutput:
        emb = self.sparse_arch(dense, sparse)
        logit = self.linear(dense, sparse) + self.fm(emb) + self.mlp(emb.flatten(1)).squeeze(-1)
        return ModelOutput(logit)
