"""Memorized feature crosses (OptInter): hashed TorchRec tables for the cross values of many
field pairs.

Pair ``p = (A, B)`` maps the cross value ``(x_A, x_B)`` of a row to ``cross_rows(x_A, x_B,
salt(A, B), P R) = bucket(x_A * M ^ x_B, salt(A, B), P R)`` over one table of ``P`` pairs x
``R`` rows (``optinter_cross``), or, ``sectioned``, to ``cross_rows(x_A, x_B, salt(A, B), R)``
in ``R`` rows of its own
(:func:`recsys.embeddings.buckets.cross_rows_torch`, NumPy twin in
:mod:`recsys.features.hashing`): no cross vocabulary is ever built, training and scoring hash
identically, and all pairs go through one fused lookup (one lookup key per pair; TorchRec groups
the tables of a width into one fbgemm kernel).

Rows by need or rows per pair: hashed over the whole table a pair with many distinct crosses uses
more rows and a small one fewer (the retrained model, which is what is served); sectioned, each
pair's lookups stay inside its ``R x d`` rows, in cache as fbgemm walks the batch feature by
feature (the search, which memorizes every candidate pair and only has to rank methods).

Where a sectioned pair's rows live is a matter of fbgemm's CPU kernels, not of the model (the same
rows, the same updates): with AVX-512 in a table of its own (``optinter_cross_<p>``), whose
row-wise Adagrad backward fbgemm runs in its generated kernel (the all-pairs search step's, B 4096,
P 325, d 8, 6,153 rows a pair: 82 -> 38 ms against one table); with AVX2 that kernel costs ~400 ns
per row it updates, so the pairs share one table ``optinter_cross``, pair ``p`` in rows
``[p R, (p + 1) R)``, which fbgemm updates in its generic loop (``benchmarks/sparse_optimizer.py``:
87.6 against 397.4 ms at the all-pairs search's shape, 20.8 against 84.3 at the seeded one's).
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


def tables_per_pair() -> bool:
    """Whether sectioned pairs get a table each (fbgemm's generated row-wise kernels: AVX-512 CPUs)
    or share one in blocks of rows (its generic loop, far faster where the CPU has only AVX2).

    fbgemm's AVX2 row-wise Adagrad kernel mixes legacy-SSE scalar instructions into 256-bit code;
    the AVX2-only machines measured (2-core Zen 3 VMs) charge ~120 ns for each such transition
    (``benchmarks/sse_avx_transition.py``), ~3 per updated row. The rows and updates are the same
    either way, so the rule only has to be right about speed."""
    return torch.backends.cpu.get_cpu_capability() == "AVX512"


class CrossEmbedding(nn.Module):
    """KJT of field ids (one id per bag) -> ``(B, P, d)`` embeddings of ``P`` pairs' cross values.

    Args:
        fields: the KJT's keys, in order.
        pairs: field-index pairs ``(i, j)`` to memorize.
        rows_per_pair: ``R``: ``P R`` rows in all; ``dim``: their width (a multiple of 4).
        sectioned: each pair hashes into ``R`` rows of its own (else into all ``P R``): a table
            per pair, or one table in blocks of ``R`` rows (:func:`tables_per_pair`).
    """

    left: torch.Tensor
    right: torch.Tensor
    salts: torch.Tensor
    blocks: torch.Tensor | None

    def __init__(self, fields: Sequence[str], pairs: Sequence[tuple[int, int]], rows_per_pair: int, dim: int,
                 device: Optional[torch.device] = None, sectioned: bool = False) -> None:
        super().__init__()
        self.keys = [pair_key(fields[i], fields[j]) for i, j in pairs]
        self.rows_per_pair, self.dim, self.num_fields = int(rows_per_pair), dim, len(fields)
        self.rows = self.rows_per_pair * len(pairs)
        self.sectioned = sectioned
        per_table = sectioned and tables_per_pair()
        self.register_buffer("left", torch.tensor([i for i, _ in pairs], dtype=torch.int64), persistent=False)
        self.register_buffer("right", torch.tensor([j for _, j in pairs], dtype=torch.int64), persistent=False)
        self.register_buffer("salts", torch.tensor([[pair_salt(fields[i], fields[j])] for i, j in pairs],
                                                   dtype=torch.int64), persistent=False)
        blocks = torch.arange(len(pairs), dtype=torch.int64)[:, None] * self.rows_per_pair  # (P, 1): p R
        self.register_buffer("blocks", blocks if sectioned and not per_table else None, persistent=False)
        init = {"embedding_dim": dim, "pooling": PoolingType.SUM, "weight_init_min": -INIT_RANGE,
                "weight_init_max": INIT_RANGE}
        tables = [EmbeddingBagConfig(name=f"{CROSS_TABLE}_{p}", num_embeddings=self.rows_per_pair, feature_names=[key],
                                     **init) for p, key in enumerate(self.keys)] if per_table else \
            [EmbeddingBagConfig(name=CROSS_TABLE, num_embeddings=self.rows, feature_names=self.keys, **init)]
        self.ebc = EmbeddingBagCollection(tables=tables, device=device or torch.device("meta"))
        self.key_order = KeyOrder(self.keys)

    def cross_rows(self, features: KeyedJaggedTensor) -> torch.Tensor:
        """``(P, B)`` rows of every pair's cross value, in its table (pair ``p``'s block of a shared one)."""
        ids = features.values().view(self.num_fields, -1)
        rows = cross_rows_torch(ids[self.left], ids[self.right], self.salts,
                                self.rows_per_pair if self.sectioned else self.rows)
        return rows.add_(self.blocks) if self.blocks is not None else rows  # rows: a fresh tensor

    def forward(self, features: KeyedJaggedTensor) -> torch.Tensor:
        rows = self.cross_rows(features)
        kjt = KeyedJaggedTensor(keys=self.keys, values=rows.reshape(-1),
                                lengths=torch.ones(rows.numel(), dtype=torch.int32, device=rows.device),
                                stride=rows.shape[1])
        return self.key_order.values(self.ebc(kjt)).view(rows.shape[1], len(self.keys), self.dim)
