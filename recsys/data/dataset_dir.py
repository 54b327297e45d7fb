"""The prepared DATA_DIR layout and its ``dataset.json`` manifest.

    DATA_DIR/
      dataset.json            format, features, splits, rejected_rows, source, version, features_hash
      features/               fitted-features artifact (features.json + vocab.parquet)
      train/ val/ test/       part-NNNNN.parquet, one row group each: label int8, dense float32,
                              ids (vocab int32, hash int64)
      rejects/rejects.parquet _file, _line, _reason, _raw of every rejected row (if any)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.errors import DataDirError
from recsys.features.fitted import FittedFeatures, features_hash

DATA_FORMAT_VERSION = 1
MANIFEST = "dataset.json"


@dataclass(frozen=True)
class DatasetInfo:
    """A validated prepared dataset: its manifest and where its splits live."""

    root: Path
    manifest: dict[str, Any]

    @property
    def dense_fields(self) -> list[str]:
        return [f["name"] for f in self.manifest["features"] if f["kind"] == "dense"]

    @property
    def categorical_fields(self) -> list[str]:
        return [f["name"] for f in self.manifest["features"] if f["kind"] == "categorical"]

    @property
    def cardinalities(self) -> dict[str, int]:
        return {f["name"]: int(f["cardinality"]) for f in self.manifest["features"] if f["kind"] == "categorical"}

    @property
    def encoding(self) -> str:
        return str(self.manifest["encoding"])

    def split_files(self, split: str) -> list[Path]:
        files = sorted((self.root / split).glob("part-*.parquet"))
        if not files and self.manifest["splits"].get(split, 0) > 0:
            raise DataDirError(f"{self.root}: split '{split}' has no Parquet parts (incomplete DATA_DIR)")
        return files

    def features(self) -> FittedFeatures:
        return FittedFeatures.load(self.root / "features")


def open_dataset(root: str | Path) -> DatasetInfo:
    """Open and validate a DATA_DIR: it exists, is complete and has this format version."""
    p = Path(root)
    if not p.is_dir():
        raise DataDirError(f"DATA_DIR not found: {p} (run `recsys prepare` first)")
    mf = p / MANIFEST
    if not mf.is_file():
        raise DataDirError(f"{p}: no {MANIFEST}; not a prepared dataset or an interrupted prepare")
    try:
        manifest = json.loads(mf.read_text())
    except ValueError as exc:
        raise DataDirError(f"{mf}: unreadable JSON ({exc})") from exc
    version = manifest.get("version")
    if version != DATA_FORMAT_VERSION:
        raise DataDirError(f"{p}: data format version {version}, this recsys reads {DATA_FORMAT_VERSION}; re-run prepare")
    if not (p / "features" / "features.json").is_file():
        raise DataDirError(f"{p}: features/ artifact missing (incomplete DATA_DIR)")
    if features_hash(p / "features") != manifest.get("features_hash"):
        raise DataDirError(f"{p}: features artifact does not match dataset.json (mixed DATA_DIRs?)")
    return DatasetInfo(p, manifest)
