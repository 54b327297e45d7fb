"""A run's per-row test predictions: ``RUN_DIR/predictions/test.parquet`` (``row, label, score``).

Studies compare runs on the same test rows (a paired bootstrap of the AUC difference needs
every row's score from both runs), so each run keeps its scores. ``row`` is the row's 0-based
position in the split as the DATA_DIR stores it: runs on the same DATA_DIR share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from recsys.data.loader import BatchLoader
from recsys.embeddings.schema import FeatureSchema
from recsys.errors import DataDirError
from recsys.files import write_file_atomic
from recsys.training.runconfig import RunConfig


@dataclass(frozen=True)
class Predictions:
    """``(N,)`` arrays in split order: row positions, 0/1 labels and click probabilities."""

    rows: np.ndarray
    labels: np.ndarray
    scores: np.ndarray


def predictions_path(run_dir: Path, split: str = "test") -> Path:
    return run_dir / "predictions" / f"{split}.parquet"


def write_predictions(run_dir: Path, labels: np.ndarray, scores: np.ndarray, split: str = "test") -> Path:
    """Write ``(N,)`` labels and scores in split order (``row`` = 0..N-1), atomically."""
    path = predictions_path(run_dir, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"row": pa.array(np.arange(len(scores), dtype=np.int64)),
                      "label": pa.array(np.asarray(labels, np.int8)),
                      "score": pa.array(np.asarray(scores, np.float32))})
    write_file_atomic(path, lambda tmp: pq.write_table(table, tmp))
    return path


def read_predictions(run_dir: Path, split: str = "test") -> Predictions:
    path = predictions_path(run_dir, split)
    if not path.is_file():
        raise DataDirError(f"{run_dir}: no {path.relative_to(run_dir)}; train it again with this version "
                           "(runs keep their test predictions since 2026-12-02)")
    t = pq.read_table(path, columns=["row", "label", "score"])
    return Predictions(t.column("row").to_numpy(), t.column("label").to_numpy(), t.column("score").to_numpy())


def predict_unsharded(cfg: RunConfig, schema: FeatureSchema, weights: dict[str, torch.Tensor],
                      loader: BatchLoader, pruned: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` labels and fp32 click probabilities of one whole split in one process, from full
    weights (a sharded run's rank 0 uses this: each rank's own test rows are not in split order)."""
    from recsys.training.evaluate import unsharded_model
    from recsys.training.loop import score_loader

    result = score_loader(unsharded_model(cfg, schema, weights, pruned), loader, torch.device("cpu"),
                          keep_scores=True, across_ranks=False)
    assert result.scores is not None and result.labels is not None
    return result.labels, result.scores
