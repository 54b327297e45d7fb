"""Exact ranking statistics shared by data generation, ranking and training metrics.

AUC is computed from per-score positive/negative counts, so ties get half credit and the
result equals scikit-learn's ``roc_auc_score`` on the same scores.
"""

from __future__ import annotations

import numpy as np


def unique_counts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse ``(N,)`` scores/labels into sorted unique scores with positive/negative counts."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], labels[order].astype(np.int64)
    uniq, start = np.unique(s, return_index=True)
    pos = np.add.reduceat(y, start) if len(s) else np.zeros(0, np.int64)
    cnt = np.diff(np.append(start, len(s)))
    return uniq, pos, cnt - pos


def auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUC from positive/negative counts per unique score, ascending by score.

    AUC = sum over scores s of neg_below(s) * pos(s) + 0.5 * neg(s) * pos(s), divided by P*N.
    """
    p_total, n_total = float(pos.sum()), float(neg.sum())
    if p_total == 0 or n_total == 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    num = float(np.dot(neg_below.astype(np.float64), pos)) + 0.5 * float(np.dot(neg.astype(np.float64), pos))
    return num / (p_total * n_total)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Exact ROC AUC of ``(N,)`` scores against binary labels."""
    _, pos, neg = unique_counts(np.asarray(scores), np.asarray(labels))
    return auc_from_counts(pos, neg)
