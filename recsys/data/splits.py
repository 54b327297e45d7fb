"""Row -> split assignment (0 train, 1 val, 2 test), computed once all rows are counted.

Every method is a pure function of row positions (and labels for the BARS protocols),
so the same input and seed always give the same split, whatever the block size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from recsys.errors import ConfigError
from recsys.features.hashing import fnv1a64_bytes, splitmix64_numpy
from recsys.features.spec import SplitConfig

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")


def random_split(rows: np.ndarray, cfg: SplitConfig) -> np.ndarray:
    """Hash of (seed, global row index) -> U(0,1) -> split by ``cfg.ratios``."""
    salt = np.uint64(fnv1a64_bytes(f"split#{cfg.seed}".encode()))
    u = (splitmix64_numpy(rows.astype(np.uint64) ^ salt) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    r0, r1 = cfg.ratios[0], cfg.ratios[0] + cfg.ratios[1]
    return np.where(u < r0, TRAIN, np.where(u < r1, VAL, TEST)).astype(np.int8)


def sequential_split(rows: np.ndarray, total: int, cfg: SplitConfig) -> np.ndarray:
    """Input order: of ``total`` rows the first share is train, then val, the last rows are test."""
    n_train = int(round(total * cfg.ratios[0]))
    n_val = int(round(total * cfg.ratios[1]))
    return np.where(rows < n_train, TRAIN, np.where(rows < n_train + n_val, VAL, TEST)).astype(np.int8)


def stratified_x4_split(labels: np.ndarray, seed: int = 2018) -> np.ndarray:
    """BARS Criteo_x4/Avazu_x4: StratifiedKFold(10, shuffle, seed) -> fold 0 test, fold 1 val."""
    from sklearn.model_selection import StratifiedKFold

    out = np.full(len(labels), TRAIN, np.int8)
    folds = StratifiedKFold(n_splits=10, shuffle=True, random_state=seed)
    for k, (_, test_idx) in enumerate(folds.split(np.zeros(len(labels)), labels)):
        if k == 0:
            out[test_idx] = TEST
        elif k == 1:
            out[test_idx] = VAL
        else:
            break
    return out


class SplitAssigner:
    """Split codes from row positions alone, so pass 1 can split while it streams.

    A row's position is its line in the concatenated inputs (``file_offset + line - 1``),
    counted before validation, so rejects do not move other rows between splits. Methods
    that need totals (sequential, by_file, the BARS protocols) count lines first (and read
    labels for the stratified folds).
    """

    def __init__(self, cfg: SplitConfig, lines_per_file: list[int], labels: Optional[np.ndarray] = None) -> None:
        self.cfg = cfg
        self.offsets = np.concatenate([[0], np.cumsum(lines_per_file)]).astype(np.int64)
        self.lines_per_file = lines_per_file
        self.total = int(self.offsets[-1])
        self.fixed = stratified_x4_split(labels, cfg.seed) if labels is not None else None
        if cfg.method == "by_file" and len(lines_per_file) < 2:
            raise ConfigError("split by_file needs at least two input files (e.g. Criteo 1TB day_0..day_23)")

    @classmethod
    def for_inputs(cls, cfg: SplitConfig, inputs: list[Path], fmt: str, label_index: int = 0,
                   separator: str = "\t") -> "SplitAssigner":
        if cfg.method == "random":
            return cls(cfg, [0] * len(inputs))
        counts, labels = [], []
        for path in inputs:
            n, y = count_lines(path, fmt, label_index, separator, cfg.method in ("criteo_x4", "avazu_x4"))
            counts.append(n)
            labels.append(y)
        return cls(cfg, counts, np.concatenate(labels) if cfg.method in ("criteo_x4", "avazu_x4") else None)

    def codes(self, file_ids: np.ndarray, lines: np.ndarray) -> np.ndarray:
        """``(N,)`` int8 split codes of rows at ``lines`` (1-based) of files ``file_ids``."""
        pos = self.offsets[file_ids] + lines - 1
        method = self.cfg.method
        if method == "random":
            return random_split(pos, self.cfg)
        if method == "sequential":
            return sequential_split(pos, self.total, self.cfg)
        if method == "by_file":
            last = len(self.lines_per_file) - 1
            half = self.lines_per_file[last] // 2
            out = np.where(file_ids < last, TRAIN, np.where(lines <= half, VAL, TEST))
            return out.astype(np.int8)
        assert self.fixed is not None  # x4 methods always read labels
        return self.fixed[pos]


def count_lines(path: Path, fmt: str, label_index: int, separator: str, want_labels: bool) -> tuple[int, np.ndarray]:
    """Lines of a text file (or rows of a Parquet file) and, optionally, their 0/1 labels."""
    import polars as pl
    import pyarrow.parquet as pq

    from recsys.data.raw import LINE, SourceFile, iter_line_blocks, lines_frame

    if fmt == "parquet":
        n = pq.ParquetFile(path).metadata.num_rows
        if not want_labels:
            return n, np.zeros(0, np.int8)
        col = pl.read_parquet(path, columns=[label_index]).to_series(0).cast(pl.String)
        return n, (col == "1").cast(pl.Int8).to_numpy()
    total, labels = 0, []
    for block, first, n in iter_line_blocks(path, SourceFile(str(path))):
        total += n
        if want_labels:
            lines = lines_frame(block, first, 0)[LINE]
            labels.append((lines.str.split(separator).list.get(label_index, null_on_oob=True) == "1")
                          .fill_null(False).cast(pl.Int8).to_numpy())
    return total, np.concatenate(labels) if labels else np.zeros(0, np.int8)
