"""FGCNN feature generation (Liu et al., WWW 2019).

Each block: conv along the field axis (kernel ``h x 1``, "same" padding) -> tanh ->
max-pool along fields (``p x 1``) -> recombination (dense layer) that emits
``recombined_channels * F_l`` new feature embeddings of width D. Odd field counts: pooling
uses ``ceil_mode=True``, so a trailing field that does not fill a window is pooled alone
(no field is dropped); ``F_{l+1} = ceil(F_l / p)``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


class FeatureGeneration(nn.Module):
    """``(B, F, D) -> (B, F_new, D)`` generated features, ``F_new = sum_l rc_l * F_l``."""

    def __init__(self, num_fields: int, dim: int, channels: Sequence[int], kernel_heights: Sequence[int],
                 pooling_sizes: Sequence[int], recombined_channels: Sequence[int]) -> None:
        super().__init__()
        if not (len(channels) == len(kernel_heights) == len(pooling_sizes) == len(recombined_channels)):
            raise ValueError("channels, kernel_heights, pooling_sizes, recombined_channels must have equal length")
        self.convs, self.recombine = nn.ModuleList(), nn.ModuleList()
        self.pools = list(pooling_sizes)
        in_ch, fields = 1, num_fields
        self.num_new = 0
        for ch, h, p, rc in zip(channels, kernel_heights, pooling_sizes, recombined_channels):
            self.convs.append(nn.Conv2d(in_ch, ch, kernel_size=(h, 1), padding=(h // 2, 0)))
            fields = math.ceil(fields / p)
            self.recombine.append(nn.Linear(ch * fields * dim, rc * fields * dim))
            self.num_new += rc * fields
            in_ch = ch
        self.dim = dim

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        b, f, d = emb.shape
        x, new = emb.unsqueeze(1), []
        for conv, pool, rec in zip(self.convs, self.pools, self.recombine):
            y = torch.tanh(conv(x))[:, :, : x.shape[2], :]
            x = _pool_fields(y, pool)
            new.append(torch.tanh(rec(x.flatten(1))).view(b, -1, d))
        return torch.cat(new, dim=1)


def _pool_fields(y: torch.Tensor, pool: int) -> torch.Tensor:
    """Max over windows of ``pool`` fields, ``(B, C, F, D) -> (B, C, ceil(F / pool), D)``.

    Equals ``max_pool2d(kernel=(pool, 1), ceil_mode=True)``; a trailing partial window is
    padded with -inf (pooled alone). A reshape + amax is several times faster on CPU.
    """
    b, c, f, d = y.shape
    pad = -f % pool
    if pad:
        y = torch.cat([y, y.new_full((b, c, pad, d), float("-inf"))], dim=2)
    return y.view(b, c, (f + pad) // pool, pool, d).amax(dim=3)
