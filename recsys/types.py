"""The one batch type that flows from the loader through models, training and scoring.

Shapes: ``B`` batch size, ``Nd`` dense fields, ``F`` categorical fields, ``D`` embedding dim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor


@dataclass
class Batch:
    """A minibatch: dense floats, categorical ids and labels travel apart.

    Attributes:
        dense: ``(B, Nd)`` float32 transformed dense features (``Nd`` may be 0).
        sparse: KeyedJaggedTensor with one key per categorical field, int64 ids,
            ``B`` bags per key (one id per bag for Criteo/Avazu; multi-hot allowed).
        labels: ``(B,)`` float32 click labels in {0, 1}.
    """

    dense: torch.Tensor
    sparse: KeyedJaggedTensor
    labels: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device, non_blocking: bool = False) -> "Batch":
        return Batch(
            dense=self.dense.to(device, non_blocking=non_blocking),
            sparse=self.sparse.to(device, non_blocking=non_blocking),
            labels=self.labels.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> "Batch":
        return Batch(self.dense.pin_memory(), self.sparse.pin_memory(), self.labels.pin_memory())


@dataclass
class ModelOutput:
    """What every model returns.

    Attributes:
        logits: ``(B,)`` click logits (apply sigmoid for probabilities).
        aux_loss: optional scalar added to the task loss (OptFS gate sparsity, ...).
    """

    logits: torch.Tensor
    aux_loss: Optional[torch.Tensor] = None
