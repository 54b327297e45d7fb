"""Row -> split assignment (0 train, 1 val, 2 test), computed once all rows are counted.

Every method is a pure function of row positions (and labels for the BARS protocols),
so the same input and seed always give the same split, whatever the block size.
"""

from __future__ import annotations

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


def sequential_split(total: int, cfg: SplitConfig) -> np.ndarray:
    """Input order: the first share is train, then val, the last rows are test."""
    n_train = int(round(total * cfg.ratios[0]))
    n_val = int(round(total * cfg.ratios[1]))
    out = np.full(total, TEST, np.int8)
    out[:n_train] = TRAIN
    out[n_train : n_train + n_val] = VAL
    return out


def by_file_split(file_ids: np.ndarray) -> np.ndarray:
    """Files before the last are train; the last file's first half is val, second half test."""
    last = int(file_ids.max())
    if last == 0:
        raise ConfigError("split by_file needs at least two input files (e.g. Criteo 1TB day_0..day_23)")
    out = np.full(len(file_ids), TRAIN, np.int8)
    idx = np.flatnonzero(file_ids == last)
    half = len(idx) // 2
    out[idx[:half]] = VAL
    out[idx[half:]] = TEST
    return out


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


def assign_splits(cfg: SplitConfig, file_ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Split code per accepted row, in input order."""
    n = len(file_ids)
    if cfg.method == "random":
        return random_split(np.arange(n, dtype=np.int64), cfg)
    if cfg.method == "sequential":
        return sequential_split(n, cfg)
    if cfg.method == "by_file":
        return by_file_split(file_ids)
    return stratified_x4_split(labels, cfg.seed)
