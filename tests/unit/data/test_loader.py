"""Batch loader: Arrow -> Batch, shuffling by seed and epoch, rank sharding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import torch

from recsys.data.dataset_dir import open_dataset
from recsys.data.loader import BatchLoader


def _loader(data: Path, **kw: object) -> BatchLoader:
    info = open_dataset(data)
    return BatchLoader(info.split_files("train"), info.dense_fields, info.categorical_fields, **kw)  # type: ignore[arg-type]


def _rows(loader: BatchLoader) -> np.ndarray:
    """Every yielded row as its C1..C26 ids joined, to compare row multisets."""
    out = []
    for b in loader:
        ids = b.sparse.values().view(len(b.sparse.keys()), -1).T.numpy()
        out.append(np.hstack([ids, b.labels.numpy()[:, None]]))
    return np.vstack(out)


def test_batch_layout_matches_parquet(criteo_data: Path) -> None:
    info = open_dataset(criteo_data)
    batch = next(iter(_loader(criteo_data, batch_size=100, prefetch=0)))
    table = pl.read_parquet(info.split_files("train")[0]).head(100)
    kjt = batch.sparse
    assert kjt.keys() == info.categorical_fields and kjt.values().dtype == torch.int64
    assert kjt.lengths().tolist() == [1] * (100 * len(info.categorical_fields))
    assert kjt["C3"].values().tolist() == table["C3"].to_list()
    assert batch.labels.dtype == torch.float32 and batch.labels.tolist() == table["label"].cast(pl.Float32).to_list()
    assert batch.dense.shape == (100, 0)


def test_every_row_once_and_shuffle_deterministic_per_epoch(criteo_data: Path) -> None:
    plain = _rows(_loader(criteo_data, batch_size=1000))
    a = _loader(criteo_data, batch_size=1000, shuffle=True, seed=1, shuffle_buffer=2)
    first, again = _rows(a), _rows(a)
    a.set_epoch(1)
    second = _rows(a)
    assert len(first) == len(plain) == open_dataset(criteo_data).manifest["splits"]["train"]
    key = lambda m: sorted(map(tuple, m))  # noqa: E731
    assert key(first) == key(plain) == key(second)
    assert (first == again).all() and not (first == second).all() and not (first == plain).all()


def test_ranks_partition_the_rows_with_equal_batch_counts(criteo_data: Path) -> None:
    shards = [_loader(criteo_data, batch_size=512, shuffle=True, seed=3, rank=r, world_size=2) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1])
    counts = [sum(1 for _ in s) for s in shards]
    assert counts == [len(shards[0])] * 2
    padded = [list(s.iter_padded()) for s in shards]
    assert len(padded[0]) == len(padded[1])
    real = [np.vstack([np.hstack([b.sparse.values().view(26 + 13, -1).T.numpy(), b.labels.numpy()[:, None]])
                       for b, ok in p if ok]) for p in padded]
    together = sorted(map(tuple, np.vstack(real)))
    assert together == sorted(map(tuple, _rows(_loader(criteo_data, batch_size=4096))))
