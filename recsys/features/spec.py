"""Dataset descriptions: which raw columns exist and what each becomes.

A dataset config (``configs/datasets/*.yaml``) is a :class:`DatasetConfig`; a user
describes a new dataset in YAML without code. Field names are the datasets'
conventional ones (Criteo ``label, I1..I13, C1..C26``; Avazu's header names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from recsys.config import from_dict, load_yaml
from recsys.errors import ConfigError

DenseTransform = Literal["log", "bucket", "none"]
Encoding = Literal["vocab", "hash"]
SplitMethod = Literal["random", "sequential", "by_file", "criteo_x4", "avazu_x4"]

CONFIG_ROOT = Path(__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class SplitConfig:
    """How rows are assigned to train/val/test.

    ``random``: per-row hash of (seed, row index) against ``ratios``.
    ``sequential``: input order, the last rows are test.
    ``by_file``: files before the last go to train, the last file is split in half val/test
    (Criteo 1TB: days 0-22 train, day 23 val/test).
    ``criteo_x4`` / ``avazu_x4``: BARS protocol, stratified 10-fold (seed 2018), fold 0 test, fold 1 val.
    """

    method: SplitMethod = "random"
    ratios: tuple[float, ...] = (0.8, 0.1, 0.1)
    seed: int = 2018

    def __post_init__(self) -> None:
        if len(self.ratios) != 3 or any(r < 0 for r in self.ratios) or abs(sum(self.ratios) - 1) > 1e-6:
            raise ConfigError(f"split.ratios must be three non-negative numbers summing to 1, got {self.ratios}")


@dataclass(frozen=True)
class DatasetConfig:
    """Raw layout and feature treatment of one dataset format.

    ``columns`` is the raw column order; ``header`` says whether files carry a header
    line (``auto``: a first line equal to the joined column names is skipped).
    ``short_rows: pad`` treats missing trailing fields as empty; ``reject`` rejects them.
    ``time_column`` (``YYMMDDHH``) is expanded into ``hour_of_day``, ``weekday``, ``weekend``.
    """

    name: str
    columns: tuple[str, ...]
    label: str
    dense: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    separator: str = "\t"
    header: Literal["auto", "yes", "no"] = "no"
    short_rows: Literal["reject", "pad"] = "reject"
    dense_transform: DenseTransform = "log"
    missing_indicator: bool = False
    min_count: int = 1
    encoding: Encoding = "vocab"
    time_column: Optional[str] = None
    split: SplitConfig = field(default_factory=SplitConfig)
    row_group_rows: int = 65536

    def __post_init__(self) -> None:
        known = set(self.columns)
        for group in (self.dense, self.categorical, self.drop, (self.label,)):
            missing = [c for c in group if c not in known]
            if missing:
                raise ConfigError(f"dataset {self.name}: {missing} not in columns")
        if len(self.separator) != 1:
            raise ConfigError(f"dataset {self.name}: separator must be one character")
        if self.min_count < 1:
            raise ConfigError(f"dataset {self.name}: min_count must be >= 1")

    @property
    def derived_time_fields(self) -> tuple[str, ...]:
        return ("hour_of_day", "weekday", "weekend") if self.time_column else ()

    @property
    def categorical_fields(self) -> tuple[str, ...]:
        """Every field that becomes an embedding lookup, in model order."""
        bucketed = self.dense if self.dense_transform == "bucket" else ()
        return bucketed + self.categorical + self.derived_time_fields

    @property
    def dense_fields(self) -> tuple[str, ...]:
        """Every float input column, in model order (missing indicators last)."""
        if self.dense_transform == "bucket":
            return ()
        ind = tuple(f"{d}_missing" for d in self.dense) if self.missing_indicator else ()
        return self.dense + ind


def load_dataset_config(name_or_path: str) -> DatasetConfig:
    """Load ``configs/datasets/NAME.yaml`` or a YAML path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_ROOT / "datasets" / f"{name_or_path}.yaml"
    data = load_yaml(path)
    return from_dict(DatasetConfig, data, where=str(path))
