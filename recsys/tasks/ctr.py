"""The CTR task: binary cross-entropy on click logits plus any auxiliary model loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recsys.types import ModelOutput


class CTRTask:
    """Loss of a batch: ``mean BCE(logits, labels) + aux_loss`` (OptFS gates, ...)."""

    def loss(self, output: ModelOutput, labels: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(output.logits.float(), labels)
        if output.aux_loss is not None:
            loss = loss + output.aux_loss
        return loss
