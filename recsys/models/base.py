"""Parts every model is composed of: the sparse arch (field embeddings), the dense-as-field
embedding and a first-order (LR) term. Models own parameters and ``forward`` only; loss,
optimizers and the loop live in ``tasks`` and ``training``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.module import FieldEmbedding
from recsys.embeddings.schema import DenseEmbedding, FeatureSchema, field_embedding
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.errors import ConfigError
from recsys.layers import MLP, InnerProduct, LogitLinear


@dataclass(frozen=True)
class DNNConfig:
    """FuxiCTR-named DNN settings shared by models with a DNN tower."""

    dnn_hidden_units: tuple[int, ...] = (400, 400, 400)
    net_dropout: float = 0.0
    batch_norm: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.net_dropout < 1:
            raise ConfigError(f"net_dropout must be in [0, 1), got {self.net_dropout}")


class SparseArch(nn.Module):
    """Categorical ids and (optionally) dense values -> ``(B, F, D)`` field embeddings.

    With ``embed_dense`` the ``Nd`` dense inputs become fields too: ``F = F_cat + Nd``;
    without, models that flatten the fields append the raw values (:meth:`with_raw_dense`).
    """

    def __init__(self, schema: FeatureSchema, emb: EmbeddingConfig, embed_dense: bool,
                 device: Optional[torch.device] = None, prefix: str = "") -> None:
        super().__init__()
        self.embedding: FieldEmbedding = field_embedding(schema, emb, prefix=prefix, device=device)
        self.dense = DenseEmbedding(len(schema.dense), self.embedding.dim) if embed_dense and schema.dense else None
        self.dim = self.embedding.dim
        self.num_fields = len(schema.categorical) + (len(schema.dense) if self.dense is not None else 0)
        self.raw_dense = 0 if self.dense is not None else len(schema.dense)
        """Dense values not embedded as fields (appended by :meth:`with_raw_dense`)."""

    @property
    def flat_dim(self) -> int:
        """Width of :meth:`with_raw_dense` applied to the flattened fields: ``F * D + raw_dense``."""
        return self.num_fields * self.dim + self.raw_dense

    def with_raw_dense(self, flat: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """``(B, K) -> (B, K + raw_dense)``: the dense values that are not fields, appended."""
        return torch.cat([flat, dense.to(flat.dtype)], dim=1) if self.raw_dense else flat

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> torch.Tensor:
        emb = self.embedding(sparse)
        if self.dense is not None:
            emb = torch.cat([emb, self.dense(dense)], dim=1)
        return emb


class LinearArch(nn.Module):
    """First-order term ``b + sum_f w_f[id_f] + <w_d, x_dense>``: ``-> (B,)``.

    Weights are embedding tables under the same strategy (tables, not features). fbgemm's
    fused kernels need widths divisible by 4, so a value's weight is the sum of a 4-wide row
    (the same function class as a scalar weight).
    """

    WIDTH = 4

    def __init__(self, schema: FeatureSchema, emb: EmbeddingConfig, device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.weights = field_embedding(schema, emb, dim=self.WIDTH, prefix="lr_", device=device)
        self.dense = LogitLinear(len(schema.dense), 1) if schema.dense else None
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> torch.Tensor:
        out = self.weights(sparse).sum(dim=(1, 2)) + self.bias
        if self.dense is not None:
            out = out + self.dense(dense).squeeze(-1)
        return out


class ProductHead(nn.Module):
    """``(B, F, D) -> (B,)``: MLP over ``[flatten(E), <e_i, e_j> for i < j]`` (IPNN; FGCNN's classifier)."""

    def __init__(self, num_fields: int, dim: int, cfg: DNNConfig) -> None:
        super().__init__()
        self.product = InnerProduct(num_fields)
        self.mlp = MLP(num_fields * dim + self.product.num_pairs, cfg.dnn_hidden_units, 1,
                       cfg.net_dropout, cfg.batch_norm)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.product.with_embeddings(emb)).squeeze(-1)
