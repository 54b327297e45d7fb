"""AutoInt and AutoInt+ (Song et al., CIKM 2019).

Numeric and categorical fields share one embedding space (``x_i * v_i`` for dense values).
``L`` interacting layers (multi-head self-attention over fields, residual) -> flatten ->
linear logit. AutoInt+ adds a parallel DNN over the flattened embeddings; logits add.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.errors import ConfigError
from recsys.layers import MLP, InteractingLayer, LogitLinear
from recsys.models.base import DNNConfig, SparseArch
from recsys.types import ModelOutput


@dataclass(frozen=True)
class AutoIntConfig(DNNConfig):
    """Paper defaults: 3 layers, 2 heads, attention dim 32, residual on, no scaling.
    ``dnn_hidden_units`` is used by ``autoint+`` only (``autoint`` ignores it when empty)."""

    attention_layers: int = 3
    num_heads: int = 2
    attention_dim: int = 32
    use_residual: bool = True
    use_scale: bool = False
    layer_norm: bool = False
    embed_dense: bool = True
    """Dense inputs as attention fields (``x_i * v_i``, the paper and FuxiCTR); ``False`` feeds
    them to the DNN and the output layer as plain values and attends over categorical fields
    only (DeepCTR-Torch's AutoInt layout)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.attention_layers < 1 or self.num_heads < 1 or self.attention_dim < 1:
            raise ConfigError("attention_layers, num_heads and attention_dim must be positive")


class AutoInt(nn.Module):
    """``with_dnn=False``: AutoInt; ``True``: AutoInt+."""

    def __init__(self, cfg: AutoIntConfig, schema: FeatureSchema, emb: EmbeddingConfig,
                 device: Optional[torch.device] = None, with_dnn: bool = False) -> None:
        super().__init__()
        self.sparse_arch = SparseArch(schema, emb, embed_dense=cfg.embed_dense, device=device)
        f, d = self.sparse_arch.num_fields, self.sparse_arch.dim
        if f == 0:
            raise ConfigError("autoint needs at least one attention field (embed_dense: false leaves none)")
        width, raw = cfg.num_heads * cfg.attention_dim, self.sparse_arch.raw_dense
        self.attention = nn.Sequential(*[
            InteractingLayer(d if i == 0 else width, cfg.attention_dim, cfg.num_heads, cfg.use_residual,
                             cfg.use_scale, cfg.layer_norm) for i in range(cfg.attention_layers)])
        self.head = LogitLinear(f * width + raw, 1)
        self.dnn = MLP(self.sparse_arch.flat_dim, cfg.dnn_hidden_units, 1, cfg.net_dropout, cfg.batch_norm) \
            if with_dnn and cfg.dnn_hidden_units else None

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> ModelOutput:
        emb = self.sparse_arch(dense, sparse)
        logit = self.head(self.sparse_arch.with_raw_dense(self.attention(emb).flatten(1), dense)).squeeze(-1)
        if self.dnn is not None:
            logit = logit + self.dnn(self.sparse_arch.with_raw_dense(emb.flatten(1), dense)).squeeze(-1)
        return ModelOutput(logit)


class AutoIntPlus(AutoInt):
    """AutoInt+ : AutoInt with a parallel DNN."""

    def __init__(self, cfg: AutoIntConfig, schema: FeatureSchema, emb: EmbeddingConfig,
                 device: Optional[torch.device] = None) -> None:
        super().__init__(cfg, schema, emb, device, with_dnn=True)
