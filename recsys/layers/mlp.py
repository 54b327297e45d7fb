"""Multi-layer perceptron (the DNN tower of most CTR models)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from recsys.layers.linear import OneDnnLinear
from recsys.layers.logit import LogitLinear


class MLP(nn.Module):
    """``(B, in_dim) -> (B, units[-1])`` or ``(B, out_dim)``: Linear -> [BatchNorm | LayerNorm] -> ReLU -> [Dropout],
    then an fp32 output layer (:class:`LogitLinear`) when ``out_dim`` is given. The Linears are
    :class:`OneDnnLinear` (oneDNN for large fp32 CPU batches), with the ReLU inside when no norm sits between.

    Example:
        >>> MLP(8, [4, 4], out_dim=1)(torch.zeros(2, 8)).shape
        torch.Size([2, 1])
    """

    def __init__(self, in_dim: int, units: Sequence[int], out_dim: Optional[int] = None,
                 dropout: float = 0.0, batch_norm: bool = False, layer_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in units:
            normed = batch_norm or layer_norm
            layers.append(OneDnnLinear(in_dim, width, relu=not normed))  # the ReLU in the matmul when nothing sits between
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            elif layer_norm:
                layers.append(nn.LayerNorm(width))
            # the ReLU's place is kept (state-dict keys of earlier bundles); in-place on the norm's output, which nothing else keeps
            layers.append(nn.ReLU(inplace=True) if normed else nn.Identity())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_dim = width
        if out_dim is not None:
            layers.append(LogitLinear(in_dim, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim if out_dim is not None else in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
