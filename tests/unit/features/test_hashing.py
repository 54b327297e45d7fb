"""Stable hashing: literal vectors pin the ids on every machine, process and version."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.embeddings.buckets import bucket_torch
from recsys.features.hashing import bucket_numpy, fnv1a64_bytes, hash_string, hash_strings, salt


def test_fnv1a64_reference_vectors() -> None:
    # From the FNV reference (Fowler/Noll/Vo test suite).
    assert fnv1a64_bytes(b"") == 0xCBF29CE484222325
    assert fnv1a64_bytes(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64_bytes(b"foobar") == 0x85944171F73967E8


def test_hash_ids_are_literal_constants() -> None:
    assert hash_string("68fd1e64", "C1") == 237923711786003319
    assert hash_string("", "C1") == -2891102408059718490
    assert hash_string("68fd1e64", "C2") == -3646988952531873644
    assert hash_string("1005", "C1") == 8362734598979756047
    assert hash_string("a99f214a", "device_id") == -2269114276835995876


def test_vectorized_hash_matches_scalar_and_treats_null_as_empty() -> None:
    values = ["68fd1e64", "", None, "abc", "héllo", "x" * 40]
    got = hash_strings(pa.array(values), "C7")
    assert got.dtype == np.int64
    assert got.tolist() == [hash_string(v or "", "C7") for v in values]


def test_bucket_ids_are_literal_constants_in_numpy_and_torch() -> None:
    ids = np.array([0, 1, 2**40, -5, 237923711786003319], dtype=np.int64)
    assert salt("C1", 0) == 9125108261043912954
    assert bucket_numpy(ids, salt("C1", 0), 1000).tolist() == [947, 658, 208, 686, 78]
    assert bucket_numpy(ids, salt("C1", 1), 1000).tolist() == [195, 442, 520, 222, 223]
    assert bucket_torch(torch.from_numpy(ids), salt("C1", 0), 1000).tolist() == [947, 658, 208, 686, 78]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=50), st.integers(1, 10**7))
def test_bucket_torch_equals_numpy_and_stays_in_range(values: list[int], rows: int) -> None:
    ids = np.array(values, dtype=np.int64)
    a = bucket_numpy(ids, salt("f", 3), rows)
    b = bucket_torch(torch.from_numpy(ids), salt("f", 3), rows).numpy()
    assert (a == b).all() and (a >= 0).all() and (a < rows).all()
