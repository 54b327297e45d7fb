"""DCN-V2 cross network (Wang et al., WWW 2021)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn


class CrossNetwork(nn.Module):
    """``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``, ``(B, N) -> (B, N)``.

    Full rank: ``W_l`` is ``N x N``. Low rank (``low_rank=r``): ``W_l = U_l V_l^T`` with
    ``U_l, V_l`` of shape ``N x r``, cutting parameters from ``N^2`` to ``2 N r``.
    """

    def __init__(self, in_dim: int, num_layers: int, low_rank: Optional[int] = None) -> None:
        super().__init__()
        if low_rank:
            self.v = nn.ModuleList(nn.Linear(in_dim, low_rank, bias=False) for _ in range(num_layers))
            self.u = nn.ModuleList(nn.Linear(low_rank, in_dim) for _ in range(num_layers))
        else:
            self.w = nn.ModuleList(nn.Linear(in_dim, in_dim) for _ in range(num_layers))
        self.low_rank, self.num_layers = low_rank, num_layers

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for i in range(self.num_layers):
            xw = self.u[i](self.v[i](x)) if self.low_rank else self.w[i](x)
            x = x0 * xw + x
        return x
