"""``prepare``: raw logs -> a prepared DATA_DIR (see :mod:`recsys.data.dataset_dir`).

Three streaming passes over bounded blocks:

1. parse + validate each block of lines, write typed rows to a staging area, rejects aside;
2. assign splits, count categorical values over train rows (one field at a time), fit;
3. encode each staged block and append it to the split's Parquet row groups.

Everything is written under a temporary sibling directory that is renamed at the end,
so an error never leaves a DATA_DIR that looks complete.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from recsys.data import raw
from recsys.data.dataset_dir import DATA_FORMAT_VERSION, MANIFEST
from recsys.data.splits import SPLIT_NAMES, TRAIN, assign_splits
from recsys.errors import InputFileError
from recsys.features.fitted import FittedFeatures, categorical_values
from recsys.features.spec import DatasetConfig

ROWS_PER_FILE = 1 << 22


@dataclass
class PrepareResult:
    """What prepare did: where, how many rows went where, and how long it took."""

    data_dir: Path
    splits: dict[str, int]
    rejected_rows: int
    input_rows: int
    seconds: float
    manifest: dict = field(default_factory=dict)


@dataclass
class _Stage:
    """Pass-1 output: staged typed parts with their file ids and labels."""

    parts: list[Path] = field(default_factory=list)
    file_ids: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    rejected: int = 0


def prepare_dataset(inputs: list[Path], cfg: DatasetConfig, out: Path, fmt: str, strict: bool = False) -> PrepareResult:
    """Run the three passes; see the module docstring. Raises RecsysError subclasses on bad input."""
    start = time.perf_counter()
    for p in inputs:
        if not p.is_file():
            raise InputFileError(f"input file not found: {p}")
    out = Path(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        sources = [raw.SourceFile(str(p)) for p in inputs]
        stage = _stage_inputs(inputs, sources, cfg, fmt, tmp, strict)
        file_ids = np.concatenate(stage.file_ids)
        if file_ids.size == 0:
            raise InputFileError(f"no valid rows in {', '.join(map(str, inputs))} ({stage.rejected} rejected)")
        codes = assign_splits(cfg.split, file_ids, np.concatenate(stage.labels))
        fitted = FittedFeatures.fit(cfg, _count_values(stage.parts, codes, cfg))
        fhash = fitted.save(tmp / "features")
        counts = _write_splits(stage.parts, codes, fitted, tmp)
        shutil.rmtree(tmp / "_stage")
        manifest = _manifest(cfg, fmt, fitted, fhash, counts, stage.rejected, sources)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    total = sum(counts.values()) + stage.rejected
    return PrepareResult(out, counts, stage.rejected, total, time.perf_counter() - start, manifest)


def _blocks(path: Path, source: raw.SourceFile, cfg: DatasetConfig, fmt: str, file_no: int
            ) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    if fmt == "parquet":
        yield from raw.parquet_frames(path, cfg, file_no)
        source.bytes = path.stat().st_size
        source.sha256 = _sha256(path)
        return
    for block, first in raw.iter_line_blocks(path, source):
        yield raw.parse_lines(raw.lines_frame(block, first, file_no), cfg)


def _stage_inputs(inputs: list[Path], sources: list[raw.SourceFile], cfg: DatasetConfig,
                  fmt: str, tmp: Path, strict: bool) -> _Stage:
    stage = _Stage()
    (tmp / "_stage").mkdir()
    rejects: list[pl.DataFrame] = []
    for file_no, path in enumerate(inputs):
        for good, bad in _blocks(path, sources[file_no], cfg, fmt, file_no):
            if strict:
                raw.raise_first_reject(bad, inputs)
            sources[file_no].rows += good.height + bad.height
            stage.rejected += bad.height
            if bad.height:
                rejects.append(bad)
            typed = raw.typed_columns(good, cfg).drop(raw.LINE_NO)
            part = tmp / "_stage" / f"part-{len(stage.parts):05d}.parquet"
            typed.drop(raw.FILE_NO).write_parquet(part, compression="lz4", statistics=False)
            stage.parts.append(part)
            stage.file_ids.append(typed[raw.FILE_NO].to_numpy())
            stage.labels.append(typed[cfg.label].to_numpy())
        if sources[file_no].rows == 0:
            raise InputFileError(f"input file is empty: {path}")
    if rejects:
        (tmp / "rejects").mkdir()
        pl.concat(rejects).with_columns(
            pl.col(raw.FILE_NO).map_elements(lambda i: str(inputs[i]), return_dtype=pl.String).alias("_path")
        ).write_parquet(tmp / "rejects" / "rejects.parquet")
    return stage


def _part_codes(parts: list[Path], codes: np.ndarray) -> Iterator[tuple[Path, np.ndarray]]:
    offset = 0
    for part in parts:
        n = pq.ParquetFile(part).metadata.num_rows
        yield part, codes[offset : offset + n]
        offset += n


def _count_values(parts: list[Path], codes: np.ndarray, cfg: DatasetConfig) -> dict[str, pl.DataFrame]:
    """Per-field value counts over train rows, merged part by part."""
    counts: dict[str, pl.DataFrame] = {}
    for part, part_codes in _part_codes(parts, codes):
        typed = pl.read_parquet(part).filter(pl.Series(part_codes == TRAIN))
        cats = categorical_values(typed, cfg)
        for name in cats.columns:
            vc = cats.group_by(name).len().rename({name: "value", "len": "count"})
            prev = counts.get(name)
            counts[name] = vc if prev is None else pl.concat([prev, vc]).group_by("value").agg(pl.col("count").sum())
    if not counts:
        counts = {name: pl.DataFrame(schema={"value": pl.String, "count": pl.UInt32}) for name in cfg.categorical_fields}
    return counts


class _SplitWriter:
    """Appends encoded frames to ``split/part-NNNNN.parquet`` in fixed-size row groups."""

    def __init__(self, root: Path, row_group_rows: int) -> None:
        root.mkdir()
        self.root, self.rg, self.rows, self.file_rows = root, row_group_rows, 0, 0
        self.writer: pq.ParquetWriter | None = None
        self.buffer: list[pl.DataFrame] = []
        self.buffered = 0

    def append(self, df: pl.DataFrame) -> None:
        self.buffer.append(df)
        self.buffered += df.height
        if self.buffered >= self.rg:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        data = pl.concat(self.buffer) if self.buffer else None
        self.buffer, self.buffered = [], 0
        if data is None or data.height == 0:
            return
        full = data.height if final else data.height - data.height % self.rg
        if full < data.height:
            self.buffer, self.buffered = [data.slice(full)], data.height - full
        if full:
            self._write(data.slice(0, full))

    def _write(self, df: pl.DataFrame) -> None:
        table = df.to_arrow()
        if self.writer is None or self.file_rows >= ROWS_PER_FILE:
            self._close_file()
            path = self.root / f"part-{len(list(self.root.glob('part-*.parquet'))):05d}.parquet"
            self.writer = pq.ParquetWriter(path, table.schema, compression="lz4")
        self.writer.write_table(table, row_group_size=self.rg)
        self.rows += df.height
        self.file_rows += df.height

    def _close_file(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer, self.file_rows = None, 0

    def close(self) -> int:
        self._flush(final=True)
        self._close_file()
        return self.rows


def _write_splits(parts: list[Path], codes: np.ndarray, fitted: FittedFeatures, tmp: Path) -> dict[str, int]:
    writers = [_SplitWriter(tmp / name, fitted.dataset.row_group_rows) for name in SPLIT_NAMES]
    for part, part_codes in _part_codes(parts, codes):
        encoded = fitted.encode(pl.read_parquet(part))
        for code, writer in enumerate(writers):
            mask = part_codes == code
            if mask.any():
                writer.append(encoded.filter(pl.Series(mask)))
    return {name: w.close() for name, w in zip(SPLIT_NAMES, writers)}


def _manifest(cfg: DatasetConfig, fmt: str, fitted: FittedFeatures, fhash: str, counts: dict[str, int],
              rejected: int, sources: list[raw.SourceFile]) -> dict:
    return {
        "version": DATA_FORMAT_VERSION,
        "format": fmt,
        "dataset": cfg.name,
        "encoding": cfg.encoding,
        "min_count": cfg.min_count,
        "split": dataclasses.asdict(cfg.split),
        "features": [dataclasses.asdict(f) for f in fitted.fields],
        "splits": counts,
        "rejected_rows": rejected,
        "source": [dataclasses.asdict(s) for s in sources],
        "features_hash": fhash,
    }


def _replace_dir(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` is replaced only once ``tmp`` is complete."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
