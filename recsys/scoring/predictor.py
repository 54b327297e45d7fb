"""Load a bundle and score raw rows with exactly the training-time features and hashing.

The predictor builds the model unsharded on CPU (plain ``EmbeddingBagCollection``) and
loads the bundle's full weights; the fitted-features artifact encodes raw values, and the
model's own id remapping hashes them as in training. A features hash mismatch is refused.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm import tqdm

from recsys.config import from_dict
from recsys.data.loader import BatchLoader
from recsys.embeddings.prune import prune_model
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.errors import BundleError
from recsys.layers.linear import onednn_dense_layers
from recsys.memory import tune_allocator
from recsys.models.registry import build_model, lookup
from recsys.scoring.blocks import LINE_KEYS, BundleFeatures, EncodedBlock
from recsys.scoring.fused import fuse_lookups
from recsys.threads import Prefetched, prefetched

MODEL_BATCH_ROWS = 8192
"""Rows per model call when scoring. The fp32 matmuls ran faster at a few thousand rows: alone in
one process (alternating sizes), DeepFM at the Criteo shape, 2 threads, AVX2, scored 75,800
rows/s at 8,192 rows per call against 61,600 at 65,536. In ``recsys score``, where the encoder
thread shares the cores, the difference was within the machine's noise."""


@dataclass
class ScoreResult:
    rows: int
    rejected: int
    seconds: float


class Predictor:
    """``Predictor.load(bundle).score_typed(typed)`` -> probabilities ``(N,)``."""

    def __init__(self, model: torch.nn.Module, bundle: BundleFeatures) -> None:
        self.model, self.bundle = model.eval(), bundle
        self.features, self.manifest, self.schema = bundle.features, bundle.manifest, bundle.schema
        self.dense, self.categorical = list(self.schema.dense), list(self.schema.categorical)
        self._batcher = BatchLoader([], self.dense, self.categorical, batch_size=1, label=None)

    @classmethod
    def load(cls, bundle: str | Path, read: Optional[BundleFeatures] = None) -> "Predictor":
        """The bundle's model with its weights; ``read``: its :class:`BundleFeatures`, if already read."""
        tune_allocator()
        features = read or BundleFeatures.read(bundle)
        b, manifest, schema = features.path, features.manifest, features.schema
        cfg_cls, _ = lookup(manifest["model"])
        model = build_model(manifest["model"], from_dict(cfg_cls, manifest["model_cfg"], "model_cfg"),
                            EmbeddingConfig.from_json(manifest["embedding"]), schema, torch.device("cpu"))
        if manifest.get("pruned_tables"):
            prune_model(model, sizes=manifest["pruned_tables"], device=torch.device("cpu"))
        try:
            state = torch.load(b / "model.pt", map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated or not a torch file: one line, not a traceback
            raise BundleError(f"{b / 'model.pt'}: unreadable weights ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200]}); export the run again") from None
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise BundleError(f"{b}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
        # TorchRec's KeyedJaggedTensor asks torch.fx whether it is being traced, and torch answers
        # the first call with a warning about its own API in every scoring process's log.
        logging.getLogger("torch.fx._symbolic_trace").setLevel(logging.ERROR)
        return cls(onednn_dense_layers(fuse_lookups(model)), features)

    def score_typed(self, typed: pl.DataFrame, batch_size: int = MODEL_BATCH_ROWS) -> np.ndarray:
        """Typed raw frame (see :func:`recsys.data.raw.typed_columns`) -> ``(N,)`` float32 probabilities."""
        return self.score_arrays(*self.bundle.encode(typed), batch_size=batch_size)

    @torch.no_grad()
    def score_arrays(self, dense: np.ndarray, ids: np.ndarray, batch_size: int = MODEL_BATCH_ROWS) -> np.ndarray:
        """Encoded rows (:meth:`BundleFeatures.encode`) -> ``(N,)`` float32 probabilities.

        Always fp32, also for a model trained under bf16 autocast: a row's score then does not
        depend on which rows share its batch (bf16 kernels round differently per batch shape),
        so the service, ``recsys score`` and the in-process model agree to 1e-6."""
        n = len(dense)
        out = []
        for s in range(0, n, batch_size):
            wide = ids[:, s : s + batch_size].astype(np.int64, copy=False)  # the KJT's width, in the batch's one copy
            batch = self._batcher.to_batch(dense[s : s + batch_size], wide, np.zeros(min(batch_size, n - s), np.float32))
            logits = self.model(batch.dense, batch.sparse).logits  # fp32 throughout (see above)
            out.append(torch.sigmoid(logits.float()).numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def score_files(self, inputs: list[Path], fmt: str, out: Path,
                    blocks: Optional[Prefetched[EncodedBlock]] = None) -> ScoreResult:
        """Score raw files into ``out`` Parquet (``row``, ``score``), one row per input row in order.

        Rows that fail validation keep their place with a null score. Blocks are read and
        encoded in a background thread ahead of the model (``blocks``: that thread's iterator over
        ``inputs``, started earlier by the caller; else one is started here, one block ahead).
        """
        start, rows, rejected = time.perf_counter(), 0, 0
        tmp = out.with_name(out.name + ".tmp")
        writer = None
        bar = tqdm(unit=" rows", unit_scale=True, desc="scoring", disable=None, mininterval=1.0)  # a TTY only
        source = blocks if blocks is not None else prefetched(self.bundle.blocks(inputs, fmt), 1)
        try:
            for block in source:
                frame = self._ordered(block.good_lines, block.bad_lines, self.score_arrays(block.dense, block.ids), rows)
                rows, rejected = rows + frame.height, rejected + block.bad_lines.height
                bar.update(frame.height)
                table = frame.to_arrow()
                writer = writer or pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
            if writer is None:
                writer = pq.ParquetWriter(tmp, pa.schema([("row", pa.int64()), ("score", pa.float32())]))
            writer.close()
            tmp.replace(out)
            bar.close()
        except BaseException:
            bar.close()
            source.close()  # stops the encoding thread
            if writer is not None:
                writer.close()
            tmp.unlink(missing_ok=True)
            raise
        return ScoreResult(rows, rejected, time.perf_counter() - start)

    @staticmethod
    def _ordered(good: pl.DataFrame, bad: pl.DataFrame, scores: np.ndarray, offset: int) -> pl.DataFrame:
        keys = pl.concat([good.with_columns(score=pl.Series(scores, dtype=pl.Float32)),
                          bad.with_columns(score=pl.lit(None, dtype=pl.Float32))])
        keys = keys.sort(LINE_KEYS)
        return keys.select(pl.int_range(offset, offset + pl.len(), dtype=pl.Int64).alias("row"), "score")
