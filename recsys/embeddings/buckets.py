"""Row buckets of 64-bit ids in torch: the arithmetic of
:func:`recsys.features.hashing.bucket_numpy`, on int64 tensors (two's-complement wrap),
so that training, export and serving map ids to rows identically on CPU and GPU."""

from __future__ import annotations

import torch

from recsys.features.hashing import CROSS_MULTIPLIER, GOLDEN, MIX1, MIX2, signed64


def _srl(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bits."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def splitmix64_torch(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64 on int64 tensors holding uint64 bits (two's-complement wrap)."""
    z = x + signed64(GOLDEN)
    z = (z ^ _srl(z, 30)) * signed64(MIX1)
    z = (z ^ _srl(z, 27)) * signed64(MIX2)
    return z ^ _srl(z, 31)


def bucket_torch(ids: torch.Tensor, salt_value: int | torch.Tensor, rows: int | torch.Tensor) -> torch.Tensor:
    """Map int64 ids to rows ``[0, rows)``: ``(splitmix64(id ^ salt) >>> 1) % rows``.

    ``salt_value`` and ``rows`` may be scalars or tensors broadcast against ``ids``.
    """
    return _srl(splitmix64_torch(ids ^ salt_value), 1) % rows


def cross_rows_torch(a: torch.Tensor, b: torch.Tensor, salt_value: int | torch.Tensor,
                     rows: int | torch.Tensor) -> torch.Tensor:
    """Rows of cross values ``(a, b)`` (int64 ids, broadcast): ``bucket(a * CROSS_MULTIPLIER ^ b, salt, rows)``,
    the arithmetic of :func:`recsys.features.hashing.cross_rows_numpy`."""
    return bucket_torch((a * signed64(CROSS_MULTIPLIER)) ^ b, salt_value, rows)
