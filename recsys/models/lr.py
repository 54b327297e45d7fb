"""Logistic regression: ``logit = b + sum_f w_f[id_f] + <w, x_dense>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.models.base import LinearArch
from recsys.types import ModelOutput


@dataclass(frozen=True)
class LRConfig:
    """LR has no hyperparameters beyond training and embedding settings."""


class LR(nn.Module):
    def __init__(self, cfg: LRConfig, schema: FeatureSchema, emb: EmbeddingConfig,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.linear = LinearArch(schema, emb, device)

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> ModelOutput:
        return ModelOutput(self.linear(dense, sparse))
