"""OptInter (Lyu et al., ICDE 2022): per field pair, memorize, factorize or be naive.

``logit = MLP_LN([e_1..e_F, c_1..c_P, x])``: the field embeddings, one ``d``-wide vector per
modelled pair (``optinter_cross_dim``) and the raw dense values, through an MLP with
LayerNorm. A pair's vector is the embedding of its cross value from a hashed cross table
(memorize), ``f_i * f_j`` of separate ``d``-wide factorization embeddings (factorize), or
absent (naive). ``optinter_mode``: ``search`` mixes all three per pair with
``softmax(alpha / t)`` (the search stage of :mod:`recsys.training.optinter`); ``fixed`` builds
only what ``optinter_methods`` chose (no cross rows for pairs not memorized, no product for
pairs not factorized); ``memorize``/``factorize``/``naive`` give every pair one method.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.budget import budget_rows
from recsys.embeddings.crosses import CrossEmbedding
from recsys.embeddings.schema import FeatureSchema, field_embedding
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.errors import ConfigError
from recsys.layers import MLP, Factorize, MethodMixture
from recsys.models.base import SparseArch
from recsys.types import ModelOutput

Method = Literal["memorize", "factorize", "naive"]


@dataclass(frozen=True)
class OptInterConfig:
    """Defaults: MLP 400-400-400 with LayerNorm (the paper's classifier; our DNN width), cross
    dim 8, the paper's annealing (``t = max(0.01, 1 - 5e-5 step)``) and arch Adam lr 1e-3 (the
    reference's), one search epoch. ``optinter_cross_budget`` is the size of the cross table when
    every candidate pair is memorized; a retrain keeps ``budget / pairs`` rows per memorized pair.
    ``optinter_pairs``: candidate pairs (None: all of them); ``optinter_methods``: one per pair
    (mode ``fixed``, written by the search)."""

    dnn_hidden_units: tuple[int, ...] = (400, 400, 400)
    net_dropout: float = 0.0
    layer_norm: bool = True
    optinter_mode: Literal["search", "fixed", "memorize", "factorize", "naive"] = "search"
    optinter_cross_dim: int = 8
    optinter_cross_budget: str = "2e6rows"
    optinter_pairs: Optional[tuple[tuple[str, str], ...]] = None
    optinter_methods: Optional[tuple[Method, ...]] = None
    optinter_search_epochs: int = 1
    optinter_t_min: float = 0.01
    optinter_anneal_rate: float = 5e-5
    optinter_arch_learning_rate: float = 1e-3
    optinter_bilevel: bool = False
    optinter_candidates_top_k: int = 50
    optinter_naive_margin: float = 0.05
    """A pair keeps memorize or factorize only if that weight beats naive's by this much in the
    final ``softmax(alpha / t)`` (0: the paper's plain argmax). Pairs the search cannot tell
    apart stay naive and cost nothing."""

    def __post_init__(self) -> None:
        if self.optinter_cross_dim % 4:
            raise ConfigError(f"optinter_cross_dim must be a multiple of 4 (fbgemm), got {self.optinter_cross_dim}")
        if self.optinter_mode == "fixed" and (self.optinter_methods is None or self.optinter_pairs is None
                                              or len(self.optinter_methods) != len(self.optinter_pairs)):
            raise ConfigError("optinter_mode fixed needs optinter_pairs and one optinter_methods entry per pair")
        if not 0 <= self.optinter_naive_margin < 1:
            raise ConfigError("optinter_naive_margin must be in [0, 1)")
        if self.optinter_search_epochs < 1 or self.optinter_candidates_top_k < 1:
            raise ConfigError("optinter_search_epochs and optinter_candidates_top_k must be >= 1")


def candidate_pairs(cfg: OptInterConfig, schema: FeatureSchema) -> list[tuple[int, int]]:
    """Field-index pairs to consider: ``optinter_pairs``, or all pairs of the categorical fields
    that are not bucketized dense values (Criteo: C(26, 2) = 325; Avazu: C(24, 2) = 276)."""
    fields = schema.categorical
    if cfg.optinter_pairs is None:
        raw = [i for i, f in enumerate(fields) if f not in set(schema.bucketized)]
        return list(itertools.combinations(raw, 2))
    unknown = sorted({f for pair in cfg.optinter_pairs for f in pair} - set(fields))
    if unknown:
        raise ConfigError(f"optinter_pairs name fields this dataset does not have: {', '.join(unknown)}")
    return [(fields.index(a), fields.index(b)) for a, b in cfg.optinter_pairs]


def pair_methods(cfg: OptInterConfig, count: int) -> list[str]:
    if cfg.optinter_mode == "fixed":
        return list(cfg.optinter_methods or ())
    return [cfg.optinter_mode] * count


class OptInter(nn.Module):
    def __init__(self, cfg: OptInterConfig, schema: FeatureSchema, emb: EmbeddingConfig,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        fields = schema.categorical
        self.pairs = candidate_pairs(cfg, schema)
        self.methods = pair_methods(cfg, len(self.pairs))
        mem = [p for p, m in zip(self.pairs, self.methods) if m in ("memorize", "search")]
        fac = [p for p, m in zip(self.pairs, self.methods) if m in ("factorize", "search")]
        d = cfg.optinter_cross_dim
        per_pair = max(budget_rows(cfg.optinter_cross_budget, d) // max(len(self.pairs), 1), 1)
        self.sparse_arch = SparseArch(schema, emb, embed_dense=False, device=device)
        # The search hashes each pair into its own block (cache-friendly); a trained model over
        # the whole table (pairs share rows by need): see recsys.embeddings.crosses.
        sectioned = cfg.optinter_mode == "search"
        self.memorize = CrossEmbedding(fields, mem, per_pair, d, device, sectioned) if mem else None
        # Factorization tables only for the fields that factorized pairs use.
        self.fac_fields = sorted({i for pair in fac for i in pair})
        sub = dataclasses.replace(schema, categorical=tuple(fields[i] for i in self.fac_fields),
                                  cardinalities=tuple(schema.cardinalities[i] for i in self.fac_fields), dense=())
        self.fac_embedding = field_embedding(sub, emb, dim=d, prefix="fac_", device=device) if fac else None
        at = {f: k for k, f in enumerate(self.fac_fields)}
        self.factorize = Factorize([(at[i], at[j]) for i, j in fac]) if fac else None
        self.mixture = MethodMixture(len(self.pairs)) if cfg.optinter_mode == "search" else None
        width = d * (len(self.pairs) if self.mixture is not None else len(mem) + len(fac))
        self.mlp = MLP(self.sparse_arch.flat_dim + width, cfg.dnn_hidden_units, 1, cfg.net_dropout,
                       layer_norm=cfg.layer_norm)

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> ModelOutput:
        emb = self.sparse_arch(dense, sparse)
        mem = self.memorize(sparse) if self.memorize is not None else None
        fac = None
        if self.factorize is not None and self.fac_embedding is not None:
            subset = sparse if len(self.fac_fields) == len(self.sparse_arch.embedding.plan.fields) \
                else sparse.permute(self.fac_fields)
            fac = self.factorize(self.fac_embedding(subset))
        if self.mixture is not None:  # search: the pairs mixed first, one (B, P d) block of MLP input
            assert mem is not None and fac is not None
            mixed = self.mixture(mem, fac).flatten(1)  # (B, P d), in the autocast precision when on
            parts = [emb.flatten(1).to(mixed.dtype), mixed]  # so the concatenation is in it too
        else:
            parts = [emb.flatten(1)] + [p.reshape(p.shape[0], -1) for p in (mem, fac) if p is not None]
        x = torch.cat(parts, dim=1)
        return ModelOutput(self.mlp(self.sparse_arch.with_raw_dense(x, dense)).squeeze(-1))
