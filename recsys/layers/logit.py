"""The output layer of every model, computed in fp32 whatever the autocast precision."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LogitLinear(nn.Linear):
    """``(B, in) -> (B, out)`` in fp32, also under bf16 autocast.

    Under autocast a Linear returns bf16 (8 significant bits): a model whose logit is one
    Linear would then give a few thousand distinct scores for 100k rows, tying rows in AUC
    and quantizing logloss and every served probability. Hidden layers keep autocast; this
    layer upcasts its input and runs outside it (``H x out`` multiply-adds: free).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.linear(x.float(), self.weight, self.bias)
