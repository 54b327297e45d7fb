"""Mixed precision: bfloat16 autocast for dense layers where the hardware runs it natively."""

from __future__ import annotations

import contextlib

import torch


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices natively (else autocast would be slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def uses_bf16(mode: str, device: torch.device) -> bool:
    """``mode``: ``bf16``, ``none`` or ``auto`` (bf16 where native)."""
    return mode == "bf16" or (mode == "auto" and bf16_native(device))


def autocast(mode: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of ``mode`` on ``device`` (a no-op for fp32)."""
    if uses_bf16(mode, device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
