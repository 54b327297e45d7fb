"""Memorized feature crosses (OptInter): one hashed TorchRec table for the cross values of many
field pairs.

Pair ``p = (A, B)`` maps the cross value ``(x_A, x_B)`` of a row to ``cross_rows(x_A, x_B,
salt(A, B), P R) = bucket(x_A * M ^ x_B, salt(A, B), P R)`` over the whole table of ``P``
pairs x ``R`` rows each, or, ``sectioned``, to ``p R + cross_rows(x_A, x_B, salt(A, B), R)`` in
its own block of rows (:func:`recsys.embeddings.buckets.cross_rows_torch`, NumPy twin in
:mod:`recsys.features.hashing`): no cross vocabulary is ever built, training and scoring hash
identically, and all pairs go through one fused lookup of the shared table
``optinter_cross`` (one lookup key per pair).

Whole table or blocks: over the whole table a pair with many distinct crosses uses more rows
and a small one fewer (the retrained model, which is what is served); in blocks each pair's
lookups stay inside its ``R x d`` block, and since fbgemm walks the batch feature by feature
the block stays in cache (a quarter less lookup time at 2M rows: the search, which memorizes
every candidate pair and only has to rank methods).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn
from torchrec.modules.embedding_configs import EmbeddingBagConfig, PoolingType
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.buckets import cross_rows_torch
from recsys.embeddings.keyed import KeyOrder
from recsys.embeddings.strategies import INIT_RANGE
from recsys.features.hashing import pair_salt

CROSS_TABLE = "optinter_cross"


def pair_key(a: str, b: str) -> str:
    return f"{a}*{b}"


class CrossEmbedding(nn.Module):
    """KJT of field ids (one id per bag) -> ``(B, P, d)`` embeddings of ``P`` pairs' cross values.

    Args:
        fields: the KJT's keys, in order.
        pairs: field-index pairs ``(i, j)`` to memorize.
        rows_per_pair: ``R``: the table has ``P R`` rows; ``dim``: its width (a multiple of 4).
        sectioned: each pair hashes into its own block of ``R`` rows (else over all ``P R``).
    """

    left: torch.Tensor
    right: torch.Tensor
    salts: torch.Tensor
    starts: torch.Tensor

    def __init__(self, fields: Sequence[str], pairs: Sequence[tuple[int, int]], rows_per_pair: int, dim: int,
                 device: Optional[torch.device] = None, sectioned: bool = False) -> None:
        super().__init__()
        self.keys = [pair_key(fields[i], fields[j]) for i, j in pairs]
        self.rows_per_pair, self.dim, self.num_fields = int(rows_per_pair), dim, len(fields)
        self.rows = self.rows_per_pair * len(pairs)
        self.sectioned = sectioned
        self.register_buffer("left", torch.tensor([i for i, _ in pairs], dtype=torch.int64), persistent=False)
        self.register_buffer("right", torch.tensor([j for _, j in pairs], dtype=torch.int64), persistent=False)
        self.register_buffer("salts", torch.tensor([[pair_salt(fields[i], fields[j])] for i, j in pairs],
                                                   dtype=torch.int64), persistent=False)
        self.register_buffer("starts", torch.arange(len(pairs), dtype=torch.int64)[:, None] * self.rows_per_pair,
                             persistent=False)
        table = EmbeddingBagConfig(name=CROSS_TABLE, embedding_dim=dim, num_embeddings=self.rows,
                                   feature_names=self.keys, pooling=PoolingType.SUM,
                                   weight_init_min=-INIT_RANGE, weight_init_max=INIT_RANGE)
        self.ebc = EmbeddingBagCollection(tables=[table], device=device or torch.device("meta"))
        self.key_order = KeyOrder(self.keys)

    def cross_rows(self, features: KeyedJaggedTensor) -> torch.Tensor:
        """``(P, B)`` table rows of every pair's cross value."""
        ids = features.values().view(self.num_fields, -1)
        if self.sectioned:
            return cross_rows_torch(ids[self.left], ids[self.right], self.salts, self.rows_per_pair) + self.starts
        return cross_rows_torch(ids[self.left], ids[self.right], self.salts, self.rows)

    def forward(self, features: KeyedJaggedTensor) -> torch.Tensor:
        rows = self.cross_rows(features)
        kjt = KeyedJaggedTensor(keys=self.keys, values=rows.reshape(-1),
                                lengths=torch.ones(rows.numel(), dtype=torch.int32, device=rows.device),
                                stride=rows.shape[1])
        return self.key_order.values(self.ebc(kjt)).view(rows.shape[1], len(self.keys), self.dim)
