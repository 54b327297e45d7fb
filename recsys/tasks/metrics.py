"""Exact streaming AUC and logloss over a whole split.

AUC keeps positive/negative counts per distinct float32 score, merged as batches arrive, so
memory is bounded by the number of distinct scores (never by rows times anything else) and
the result equals scikit-learn's ``roc_auc_score`` on the same scores. Logloss sums the
per-row binary cross-entropy from logits in float64. Several ranks merge their counts.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from recsys.stats import auc_from_counts, unique_counts

_CONSOLIDATE_EVERY = 64


class StreamingMetrics:
    """Accumulates ``(logits, labels)`` batches; :meth:`compute` gives exact AUC and logloss."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.loss_sum, self.count = 0.0, 0

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """``logits``, ``labels``: ``(B,)``; scores are ``sigmoid(logits)`` in float32."""
        logits, labels = logits.detach().float().cpu(), labels.detach().float().cpu()
        self.loss_sum += float(F.binary_cross_entropy_with_logits(logits.double(), labels.double(), reduction="sum"))
        self.count += int(labels.numel())
        self._parts.append(unique_counts(torch.sigmoid(logits).numpy(), labels.numpy()))
        if len(self._parts) >= _CONSOLIDATE_EVERY:
            self._parts = [self._merged()]

    def _merged(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._parts:
            return np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
        scores = np.concatenate([p[0] for p in self._parts])
        uniq, inverse = np.unique(scores, return_inverse=True)
        pos = np.bincount(inverse, weights=np.concatenate([p[1] for p in self._parts]), minlength=len(uniq))
        neg = np.bincount(inverse, weights=np.concatenate([p[2] for p in self._parts]), minlength=len(uniq))
        return uniq, pos.astype(np.int64), neg.astype(np.int64)

    def gather(self, group: Optional[dist.ProcessGroup] = None) -> None:
        """Merge the counts of every rank into every rank (no-op single-process)."""
        if not dist.is_initialized() or dist.get_world_size(group) == 1:
            return
        mine = (self._merged(), self.loss_sum, self.count)
        everyone: list = [None] * dist.get_world_size(group)
        dist.all_gather_object(everyone, mine, group=group)
        self._parts = [e[0] for e in everyone]
        self.loss_sum = sum(e[1] for e in everyone)
        self.count = sum(e[2] for e in everyone)
        self._parts = [self._merged()]

    def compute(self) -> dict[str, float]:
        _, pos, neg = self._merged()
        return {"auc": auc_from_counts(pos, neg), "logloss": self.loss_sum / max(self.count, 1),
                "rows": float(self.count)}
