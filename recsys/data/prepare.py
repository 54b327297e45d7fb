"""``prepare``: raw logs -> a prepared DATA_DIR (see :mod:`recsys.data.dataset_dir`).

Two streaming passes over bounded blocks:

1. parse + validate each block of lines (rejects aside), assign each row its split, count
   categorical values of train rows (keyed by a 64-bit value hash; exact, spilled to disk
   by key partition past a memory budget, :mod:`recsys.features.counting`), stage the
   block as label + dense floats + value keys (Arrow IPC);
2. fit the vocabulary from the counts, resolve each staged block's keys to ids and append
   its rows to the split's Parquet row groups.

Everything is written under a temporary sibling directory that is renamed at the end,
so an error never leaves a DATA_DIR that looks complete.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from recsys.data import raw
from recsys.data.dataset_dir import DATA_FORMAT_VERSION, MANIFEST
from recsys.data.splits import SPLIT_NAMES, TRAIN, SplitAssigner
from recsys.errors import InputFileError
from recsys.files import replace_dir, temp_dir_for, write_json_atomic
from recsys.features.counting import ValueCounter
from recsys.features.fitted import FittedFeatures, categorical_values, count_values, staged_frame
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
    """Pass-1 output: staged parts (label, dense, value keys, split code) and train value counts."""

    counter: ValueCounter
    parts: list[Path] = field(default_factory=list)
    rejected: int = 0
    rows: int = 0


def prepare_dataset(inputs: list[Path], cfg: DatasetConfig, out: Path, fmt: str, strict: bool = False) -> PrepareResult:
    """Run the passes; see the module docstring. Raises RecsysError subclasses on bad input."""
    start = time.perf_counter()
    for p in inputs:
        if not p.is_file():
            raise InputFileError(f"input file not found: {p}")
    out = Path(out)
    tmp = temp_dir_for(out)
    try:
        sources = [raw.SourceFile(str(p)) for p in inputs]
        splitter = SplitAssigner.for_inputs(cfg.split, inputs, fmt, cfg.columns.index(cfg.label), cfg.separator)
        stage = _stage_inputs(inputs, sources, cfg, fmt, tmp, strict, splitter)
        if stage.rows == 0:
            raise InputFileError(f"no valid rows in {', '.join(map(str, inputs))} ({stage.rejected} rejected)")
        # Hash encoding needs only the distinct counts (no value is kept).
        min_count = cfg.min_count if cfg.encoding == "vocab" else 1 << 62
        fitted = FittedFeatures.fit(cfg, stage.counter.finish(cfg.categorical_fields, min_count))
        shutil.rmtree(tmp / "_counts", ignore_errors=True)
        fhash = fitted.save(tmp / "features")
        counts = _write_splits(stage.parts, fitted, tmp)
        shutil.rmtree(tmp / "_stage")
        manifest = _manifest(cfg, fmt, fitted, fhash, counts, stage.rejected, sources)
        write_json_atomic(tmp / MANIFEST, manifest)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    total = sum(counts.values()) + stage.rejected
    return PrepareResult(out, counts, stage.rejected, total, time.perf_counter() - start, manifest)


def _stage_inputs(inputs: list[Path], sources: list[raw.SourceFile], cfg: DatasetConfig,
                  fmt: str, tmp: Path, strict: bool, splitter: SplitAssigner) -> _Stage:
    """Pass 1: parse, validate, assign splits, count train values, stage keys; rejects aside."""
    stage = _Stage(ValueCounter(tmp / "_counts"))
    (tmp / "_stage").mkdir()
    rejects: list[pl.DataFrame] = []
    for file_no, path in enumerate(inputs):
        for good, bad in raw.read_blocks(path, sources[file_no], cfg, fmt, file_no):
            if strict:
                raw.raise_first_reject(bad, inputs)
            sources[file_no].rows += good.height + bad.height
            stage.rejected += bad.height
            if bad.height:
                rejects.append(bad)
            _stage_block(stage, raw.typed_columns(good, cfg), cfg, splitter, tmp)
        if sources[file_no].rows == 0:
            raise InputFileError(f"input file is empty: {path}")
    if rejects:
        _write_rejects(rejects, inputs, tmp)
    return stage


def _stage_block(stage: _Stage, typed: pl.DataFrame, cfg: DatasetConfig, splitter: SplitAssigner, tmp: Path) -> None:
    codes = splitter.codes(typed[raw.FILE_NO].to_numpy(), typed[raw.LINE_NO].to_numpy())
    cats = categorical_values(typed, cfg)
    stage.counter.add(count_values(cats.filter(pl.Series(codes == TRAIN))))
    part = tmp / "_stage" / f"part-{len(stage.parts):05d}.arrow"
    staged = staged_frame(typed, cfg, cats).with_columns(pl.Series("_split", codes))
    staged.write_ipc(part, compression="uncompressed")
    stage.parts.append(part)
    stage.rows += typed.height


def _write_rejects(rejects: list[pl.DataFrame], inputs: list[Path], tmp: Path) -> None:
    (tmp / "rejects").mkdir()
    paths = pl.Series([str(p) for p in inputs])
    frame = pl.concat(rejects)
    frame.with_columns(pl.col(raw.FILE_NO).map_batches(lambda f: paths.gather(f), return_dtype=pl.String)
                       .alias("_path")).write_parquet(tmp / "rejects" / "rejects.parquet")


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


def _write_splits(parts: list[Path], fitted: FittedFeatures, tmp: Path) -> dict[str, int]:
    """Pass 2: resolve staged value keys to ids and append each row to its split."""
    writers = [_SplitWriter(tmp / name, fitted.dataset.row_group_rows) for name in SPLIT_NAMES]
    for part in parts:
        staged = pl.read_ipc(part)
        codes = staged["_split"].to_numpy()
        encoded = fitted.encode_staged(staged.drop("_split"))
        for code, writer in enumerate(writers):
            mask = codes == code
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
