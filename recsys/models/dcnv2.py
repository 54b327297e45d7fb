"""DCN-V2 (Wang et al., WWW 2021): cross network and DNN, stacked or parallel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.layers import MLP, CrossNetwork, LogitLinear
from recsys.models.base import DNNConfig, SparseArch
from recsys.types import ModelOutput


@dataclass(frozen=True)
class DCNv2Config(DNNConfig):
    """``model_structure``: ``parallel`` (cross || DNN), ``stacked`` (cross -> DNN) or
    ``crossnet_only``; ``low_rank``: rank of the mixture-free low-rank cross (None = full)."""

    num_cross_layers: int = 3
    model_structure: Literal["parallel", "stacked", "crossnet_only"] = "parallel"
    low_rank: Optional[int] = None


class DCNv2(nn.Module):
    def __init__(self, cfg: DCNv2Config, schema: FeatureSchema, emb: EmbeddingConfig,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.sparse_arch = SparseArch(schema, emb, embed_dense=False, device=device)
        in_dim = self.sparse_arch.flat_dim
        self.cross = CrossNetwork(in_dim, cfg.num_cross_layers, cfg.low_rank)
        self.structure = cfg.model_structure
        self.mlp = None if cfg.model_structure == "crossnet_only" else \
            MLP(in_dim, cfg.dnn_hidden_units, None, cfg.net_dropout, cfg.batch_norm)
        head_in = in_dim if self.mlp is None else self.mlp.out_dim + (in_dim if cfg.model_structure == "parallel" else 0)
        self.head = LogitLinear(head_in, 1)

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> ModelOutput:
        x0 = self.sparse_arch.with_raw_dense(self.sparse_arch(dense, sparse).flatten(1), dense)
        crossed = self.cross(x0)
        if self.mlp is None:
            h = crossed
        elif self.structure == "stacked":
            h = self.mlp(crossed)
        else:
            h = torch.cat([crossed, self.mlp(x0)], dim=1)
        return ModelOutput(self.head(h).squeeze(-1))
