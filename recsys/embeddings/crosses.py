"""Memorized feature crosses (OptInter): hashed TorchRec tables for the cross values of many
field pairs.

Pair ``p = (A, B)`` maps the cross value ``(x_A, x_B)`` of a row to ``cross_rows(x_A, x_B,
salt(A, B), P R) = bucket(x_A * M ^ x_B, salt(A, B), P R)`` over one table of ``P`` pairs x
``R`` rows (``optinter_cross``), or, ``sectioned``, to ``cross_rows(x_A, x_B, salt(A, B), R)`` in
a table of its own (``optinter_cross_<p>``, ``R`` rows)
(:func:`recsys.embeddings.buckets.cross_rows_torch`, NumPy twin in
:mod:`recsys.features.hashing`): no cross vocabulary is ever built, training and scoring hash
identically, and all pairs go through one fused lookup (one lookup key per pair; TorchRec groups
the tables of a width into one fbgemm kernel).

One table or one per pair: in one table a pair with many distinct crosses uses more rows and a
small one fewer (the retrained model, which is what is served); with a table per pair each pair's
lookups stay inside its ``R x d`` rows, in cache as fbgemm walks the batch feature by feature, and
fbgemm's backward sorts and merges each table's ids apart instead of all ``P B`` of them at once
(the search, which memorizes every candidate pair and only has to rank methods): fbgemm's
row-wise Adagrad backward in the all-pairs search step (B 4096, P 325, d 8, 6,153 rows a pair;
``benchmarks/optinter_search_speed.py ... --profile all``) went 82 -> 38 ms with a table per pair.
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


def is_cross_table(name: str) -> bool:
    """``optinter_cross`` or one pair's ``optinter_cross_<p>``."""
    return name == CROSS_TABLE or (name.startswith(CROSS_TABLE + "_") and name[len(CROSS_TABLE) + 1:].isdigit())


def pair_key(a: str, b: str) -> str:
    return f"{a}*{b}"


class CrossEmbedding(nn.Module):
    """KJT of field ids (one id per bag) -> ``(B, P, d)`` embeddings of ``P`` pairs' cross values.

    Args:
        fields: the KJT's keys, in order.
        pairs: field-index pairs ``(i, j)`` to memorize.
        rows_per_pair: ``R``: ``P R`` rows in all; ``dim``: their width (a multiple of 4).
        sectioned: each pair hashes into a table of its own, ``R`` rows (else into one of ``P R``).
        sparse_optimizer: the fused optimizer of these tables (None: the run's ``sparse_optimizer``),
            read by :func:`recsys.training.parallel.fuse_sparse_optimizer`.
    """

    left: torch.Tensor
    right: torch.Tensor
    salts: torch.Tensor

    def __init__(self, fields: Sequence[str], pairs: Sequence[tuple[int, int]], rows_per_pair: int, dim: int,
                 device: Optional[torch.device] = None, sectioned: bool = False,
                 sparse_optimizer: Optional[str] = None) -> None:
        super().__init__()
        self.sparse_optimizer = sparse_optimizer
        self.keys = [pair_key(fields[i], fields[j]) for i, j in pairs]
        self.rows_per_pair, self.dim, self.num_fields = int(rows_per_pair), dim, len(fields)
        self.rows = self.rows_per_pair * len(pairs)
        self.sectioned = sectioned
        self.register_buffer("left", torch.tensor([i for i, _ in pairs], dtype=torch.int64), persistent=False)
        self.register_buffer("right", torch.tensor([j for _, j in pairs], dtype=torch.int64), persistent=False)
        self.register_buffer("salts", torch.tensor([[pair_salt(fields[i], fields[j])] for i, j in pairs],
                                                   dtype=torch.int64), persistent=False)
        init = {"embedding_dim": dim, "pooling": PoolingType.SUM, "weight_init_min": -INIT_RANGE,
                "weight_init_max": INIT_RANGE}
        tables = [EmbeddingBagConfig(name=f"{CROSS_TABLE}_{p}", num_embeddings=self.rows_per_pair, feature_names=[key],
                                     **init) for p, key in enumerate(self.keys)] if sectioned else \
            [EmbeddingBagConfig(name=CROSS_TABLE, num_embeddings=self.rows, feature_names=self.keys, **init)]
        self.ebc = EmbeddingBagCollection(tables=tables, device=device or torch.device("meta"))
        self.key_order = KeyOrder(self.keys)

    def cross_rows(self, features: KeyedJaggedTensor) -> torch.Tensor:
        """``(P, B)`` table rows of every pair's cross value."""
        ids = features.values().view(self.num_fields, -1)
        rows = self.rows_per_pair if self.sectioned else self.rows
        return cross_rows_torch(ids[self.left], ids[self.right], self.salts, rows)

    def forward(self, features: KeyedJaggedTensor) -> torch.Tensor:
        rows = self.cross_rows(features)
        kjt = KeyedJaggedTensor(keys=self.keys, values=rows.reshape(-1),
                                lengths=torch.ones(rows.numel(), dtype=torch.int32, device=rows.device),
                                stride=rows.shape[1])
        return self.key_order.values(self.ebc(kjt)).view(rows.shape[1], len(self.keys), self.dim)
