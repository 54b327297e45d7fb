"""Embedding L2 as a loss term on the rows a batch looks up.

fbgemm's fused CPU kernels ignore ``weight_decay`` (measured: identical updates with and
without it, every weight-decay mode), so ``embedding_regularizer`` is applied where every
device honours it: ``lambda / 2 * sum ||e||^2`` over the batch's looked-up vectors, whose
gradient ``lambda * e`` flows into the fused update of exactly those rows (the lazy form of
FuxiCTR's penalty on the whole table, which would touch every row every step).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from recsys.embeddings.module import FieldEmbedding


def embedding_l2(model: nn.Module, weight: float) -> Optional[Callable[[], torch.Tensor]]:
    """Switch on the penalty in every field embedding of ``model``; return the step's penalty
    (the sum of what the last forward left), or None when ``weight`` is 0."""
    tables = [m for m in model.modules() if isinstance(m, FieldEmbedding)]
    if not weight or not tables:
        return None
    for m in tables:
        m.l2 = weight

    def penalty() -> torch.Tensor:
        terms = [m.l2_penalty for m in tables if m.l2_penalty is not None]
        for m in tables:
            m.l2_penalty = None
        return torch.stack(terms).sum() if terms else torch.zeros(())

    return penalty
