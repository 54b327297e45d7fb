"""Stable 64-bit hashing: the same id on every machine, process and library version.

Raw categorical values are hashed with FNV-1a (64 bit) over the UTF-8 bytes of
``field + "\\x1f" + value`` and finalized with SplitMix64, so the id depends only on
those bytes (no Python ``hash`` seed, no Polars/xxhash version). Embedding strategies
map a 64-bit id to a table row with :func:`recsys.embeddings.buckets.bucket_torch`, whose
NumPy twin :func:`bucket_numpy` pins the same arithmetic; literal test vectors guard both.
This module does not import torch, so ingestion stays light.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
FIELD_SEPARATOR = b"\x1f"


def signed64(c: int) -> int:
    """A uint64 constant as the int64 with the same bits (for torch arithmetic)."""
    return c - (1 << 64) if c >= (1 << 63) else c


def fnv1a64_bytes(data: bytes, state: int = int(FNV_OFFSET)) -> int:
    """FNV-1a over ``data`` starting from ``state`` (pure Python, for scalars)."""
    h = state
    for byte in data:
        h = ((h ^ byte) * int(FNV_PRIME)) & 0xFFFFFFFFFFFFFFFF
    return h


def splitmix64_numpy(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
        return z ^ (z >> np.uint64(31))


def hash_strings(values: pa.Array | pa.ChunkedArray, field: str) -> np.ndarray:
    """Hash a string column of ``field`` to stable int64 ids.

    Nulls hash as the empty string (the "missing" value of that field).
    Returns an ``(N,)`` int64 array (uint64 bits reinterpreted).
    """
    if isinstance(values, pa.ChunkedArray):
        parts = [hash_strings(c, field) for c in values.chunks]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)
    arr = values.cast(pa.large_string()).fill_null("")
    n = len(arr)
    if n == 0:
        return np.empty(0, np.int64)
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(1, np.uint8)
    if data.size == 0:
        data = np.zeros(1, np.uint8)
    starts, lens = offsets[:-1], np.diff(offsets)
    seed = fnv1a64_bytes(field.encode() + FIELD_SEPARATOR)
    h = np.full(n, seed, dtype=np.uint64)
    last = data.size - 1
    with np.errstate(over="ignore"):
        for j in range(int(lens.max(initial=0))):
            byte = data[np.minimum(starts + j, last)].astype(np.uint64)
            h = np.where(lens > j, (h ^ byte) * FNV_PRIME, h)
    return splitmix64_numpy(h).view(np.int64)


def hash_string(value: str, field: str) -> int:
    """Scalar twin of :func:`hash_strings` (int64 result)."""
    h = fnv1a64_bytes(value.encode(), fnv1a64_bytes(field.encode() + FIELD_SEPARATOR))
    return int(splitmix64_numpy(np.array([h], dtype=np.uint64)).view(np.int64)[0])


def salt(field: str, chunk: int = 0) -> int:
    """Salt of one (field, chunk) key for hashed and unified tables, as int64."""
    return signed64(fnv1a64_bytes(f"{field}#{chunk}".encode()))


def bucket_numpy(ids: np.ndarray, salt_value: int, rows: int) -> np.ndarray:
    """``(splitmix64(id ^ salt) >>> 1) % rows`` on int64 arrays (twin of the torch version)."""
    u = ids.astype(np.int64).view(np.uint64) ^ np.int64(salt_value).view(np.uint64)
    return ((splitmix64_numpy(u) >> np.uint64(1)) % np.uint64(rows)).astype(np.int64)


CROSS_MULTIPLIER = MIX1
"""Odd 64-bit constant: a cross value's key is ``a * CROSS_MULTIPLIER ^ b`` (wrapping), a
bijection of ``a`` for fixed ``b``, so distinct ``(a, b)`` collide only in the final bucket."""


def cross_rows_numpy(a: np.ndarray, b: np.ndarray, salt_value: int, rows: int) -> np.ndarray:
    """Row of the cross value ``(a, b)`` of one field pair in a hashed cross table (OptInter):
    ``bucket(a * CROSS_MULTIPLIER ^ b, salt, rows)`` on int64 ids (twin of the torch version)."""
    with np.errstate(over="ignore"):
        key = (a.astype(np.int64).view(np.uint64) * np.uint64(CROSS_MULTIPLIER)) ^ b.astype(np.int64).view(np.uint64)
    return bucket_numpy(key.view(np.int64), salt_value, rows)


def pair_salt(field_a: str, field_b: str) -> int:
    """Salt of the cross of two fields (order matters: ``A x B``), as int64."""
    return signed64(fnv1a64_bytes(f"{field_a}\x1e{field_b}".encode()))
