"""Exact streaming AUC and logloss equal scikit-learn's on the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss, roc_auc_score

from recsys.tasks.metrics import StreamingMetrics


def _stream(logits: np.ndarray, labels: np.ndarray, batches: int) -> tuple[dict[str, float], np.ndarray]:
    """Metrics fed batch by batch, and the exact float32 scores they saw (for sklearn)."""
    m, scores = StreamingMetrics(), []
    for lo, la in zip(np.array_split(logits, batches), np.array_split(labels, batches)):
        m.update(torch.from_numpy(lo), torch.from_numpy(la))
        scores.append(torch.sigmoid(torch.from_numpy(lo)).numpy())
    return m.compute(), np.concatenate(scores)


def test_equals_sklearn_over_many_batches_with_ties() -> None:
    rng = np.random.default_rng(0)
    logits = np.round(rng.normal(size=200_000), 2).astype(np.float32)  # many ties
    labels = (rng.random(200_000) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    got, probs = _stream(logits, labels, batches=97)
    assert got["auc"] == pytest.approx(roc_auc_score(labels, probs), abs=1e-12)
    assert got["logloss"] == pytest.approx(log_loss(labels, probs.astype(np.float64)), rel=1e-6)
    assert got["rows"] == 200_000


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-8, 8, width=32), st.booleans()), min_size=2, max_size=300), st.integers(1, 7))
def test_auc_property_matches_sklearn(pairs: list[tuple[float, bool]], batches: int) -> None:
    logits = np.array([p[0] for p in pairs], dtype=np.float32)
    labels = np.array([p[1] for p in pairs], dtype=np.float32)
    if labels.min() == labels.max():
        return
    got, probs = _stream(logits, labels, min(batches, len(pairs)))
    assert got["auc"] == pytest.approx(roc_auc_score(labels, probs), abs=1e-12)
