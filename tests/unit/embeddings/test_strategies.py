"""Embedding strategies: budgets, salted buckets, shared tables, chunk geometry."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.budget import budget_rows
from recsys.embeddings.module import FieldEmbedding, IdRemap
from recsys.embeddings.strategies import EmbeddingConfig, plan_tables, split_budget
from recsys.errors import ConfigError
from recsys.embeddings.buckets import bucket_torch
from recsys.features.hashing import salt

CARDS = {"a": 10, "b": 1000, "c": 100_000}


def _kjt(values: list[list[int]]) -> KeyedJaggedTensor:
    keys = list(CARDS)[: len(values)]
    flat = torch.tensor([v for field in values for v in field], dtype=torch.int64)
    return KeyedJaggedTensor(keys=keys, values=flat, lengths=torch.ones(len(flat), dtype=torch.int32),
                             stride=len(values[0]))


def test_budget_parsing() -> None:
    assert budget_rows("2.5MB", 16) == 39062
    assert budget_rows("1MiB", 16) == 16384
    assert budget_rows("1e6rows", 16) == 1_000_000
    with pytest.raises(ConfigError, match="expected a size"):
        budget_rows("lots", 16)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=30), st.integers(1, 10**7))
def test_split_budget_is_capped_proportional_and_within_total(cards: list[int], total: int) -> None:
    named = {f"f{i}": c for i, c in enumerate(cards)}
    rows = split_budget(named, total)
    assert all(1 <= rows[f] <= max(c, 1) for f, c in named.items())
    assert sum(rows.values()) <= max(total, len(cards))
    if total >= sum(cards):
        assert rows == named


def test_hashed_plan_uses_budget_and_direct_rows_when_they_fit() -> None:
    plan = plan_tables(CARDS, EmbeddingConfig("hashed", 16, "1010rows"), "vocab")
    rows = {k.field: k.rows for k in plan.keys}
    assert rows["a"] == 10 and sum(rows.values()) <= 1010 and rows["c"] > rows["b"]
    assert [k.direct for k in plan.keys] == [True, False, False]  # collision-free where the budget allows
    assert plan.num_bytes() == sum(rows.values()) * 16 * 4


def test_unified_is_one_shared_table_with_salted_chunks() -> None:
    plan = plan_tables(CARDS, EmbeddingConfig("unified", 16, "1000rows", chunks=2), "hash")
    assert len(plan.tables) == 1 and plan.tables[0].num_embeddings == 1000 and plan.tables[0].embedding_dim == 8
    assert [k.key for k in plan.keys] == ["a@0", "a@1", "b@0", "b@1", "c@0", "c@1"]
    assert len({k.salt for k in plan.keys}) == 6


def test_same_raw_value_in_two_fields_lands_in_different_rows() -> None:
    plan = plan_tables(CARDS, EmbeddingConfig("unified", 16, "100000rows"), "hash")
    remapped = IdRemap(plan)(_kjt([[42, 43], [42, 43], [42, 43]]))
    rows = remapped.values().view(3, 2)
    assert rows[0, 0] != rows[1, 0] != rows[2, 0] and rows[0, 1] != rows[1, 1]
    assert rows[0, 0].item() == bucket_torch(torch.tensor(42), salt("a", 0), 100_000).item()


def test_round_robin_subtables_and_chunk_concatenation() -> None:
    cfg = EmbeddingConfig("unified", 16, "3000rows", chunks=4, num_tables=3)
    plan = plan_tables(CARDS, cfg, "hash")
    assert [t.num_embeddings for t in plan.tables] == [1000, 1000, 1000]
    assert [k.table for k in plan.keys][:4] == ["unified_0", "unified_1", "unified_2", "unified_0"]
    emb = FieldEmbedding(plan, torch.device("cpu"))
    kjt = _kjt([[5, 6], [7, 8], [9, 10]])
    out = emb(kjt)
    assert out.shape == (2, 3, 16)
    # Field b, sample 0 is the concatenation of its 4 chunk rows, each from its own sub-table.
    remapped = emb.remap(kjt)
    pieces = []
    for j in range(4):
        key = f"b@{j}"
        table = next(k.table for k in plan.keys if k.key == key)
        row = remapped[key].values()[0]
        pieces.append(emb.ebc.embedding_bags[table].weight[row])
    assert torch.allclose(out[0, 1], torch.cat(pieces))


def test_vocab_strategy_refuses_hash_encoded_data() -> None:
    with pytest.raises(ConfigError, match="vocabulary-encoded"):
        plan_tables(CARDS, EmbeddingConfig("vocab"), "hash")


def test_chunks_must_divide_the_dim() -> None:
    with pytest.raises(ConfigError, match="divisible"):
        EmbeddingConfig("unified", 16, chunks=3)
