"""FGCNN (Liu et al., WWW 2019): CNN-generated features + IPNN classifier.

A separate generator embedding feeds :class:`~recsys.layers.FeatureGeneration`; the
classifier is IPNN over the raw embeddings concatenated with the generated ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.layers import FeatureGeneration
from recsys.models.base import DNNConfig, ProductHead, SparseArch
from recsys.types import ModelOutput


@dataclass(frozen=True)
class FGCNNConfig(DNNConfig):
    """Defaults: the paper's Criteo feature generation (Liu et al. 2019, Table 3: kernel
    height 9, channels 6-8-10-12, pooling 2, recombined channels 2) with a 400-400 IPNN
    classifier with batch norm. Without batch norm the classifier regularly stalls at AUC
    0.5 (dead ReLUs fed by large inner products of generated features; seen here on planted
    data); with it, training is stable. The paper's MLP 4096-2048-1024-512 and FuxiCTR's
    channels 14-20 / kernel 7 are a ``--set`` away (several times slower on CPU: the
    recombination layer is a dense ``C F D -> rc F D`` map)."""

    channels: tuple[int, ...] = (6, 8, 10, 12)
    kernel_heights: tuple[int, ...] = (9, 9, 9, 9)
    pooling_sizes: tuple[int, ...] = (2, 2, 2, 2)
    recombined_channels: tuple[int, ...] = (2, 2, 2, 2)
    dnn_hidden_units: tuple[int, ...] = (400, 400)
    batch_norm: bool = True
    share_embedding: bool = False


class FGCNN(nn.Module):
    def __init__(self, cfg: FGCNNConfig, schema: FeatureSchema, emb: EmbeddingConfig,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.sparse_arch = SparseArch(schema, emb, embed_dense=True, device=device)
        self.generator_arch = None if cfg.share_embedding else \
            SparseArch(schema, emb, embed_dense=True, device=device, prefix="gen_")
        f, d = self.sparse_arch.num_fields, self.sparse_arch.dim
        self.generate = FeatureGeneration(f, d, cfg.channels, cfg.kernel_heights, cfg.pooling_sizes,
                                          cfg.recombined_channels)
        self.head = ProductHead(f + self.generate.num_new, d, cfg)

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> ModelOutput:
        emb = self.sparse_arch(dense, sparse)
        gen_in = emb if self.generator_arch is None else self.generator_arch(dense, sparse)
        return ModelOutput(self.head(torch.cat([emb, self.generate(gen_in)], dim=1)))
