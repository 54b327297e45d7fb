"""``prepare``: raw logs -> a prepared DATA_DIR (see :mod:`recsys.data.dataset_dir`).

Two streaming passes over bounded blocks:

1. parse + validate each block of lines (rejects aside), assign each row its split, count
   categorical values of train rows (keyed by a 64-bit value hash; exact, spilled to disk
   by key partition past a memory budget, :mod:`recsys.features.counting`), stage the
   block as label + dense floats + value keys (Arrow IPC);
2. fit the vocabulary from the counts, resolve each staged block's keys to ids and append
   its rows to the split's Parquet row groups.

Blocks are read in order and processed by :data:`WORKERS` threads (Polars and Arrow release
the GIL), results are taken in block order, so output does not depend on timing. Clean text
blocks take a typed fast path (:func:`recsys.data.raw.parse_block`).

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

from recsys.data import raw
from recsys.data.dataset_dir import DATA_FORMAT_VERSION, MANIFEST
from recsys.data.splits import SPLIT_NAMES, TRAIN, SplitAssigner
from recsys.errors import InputFileError
from recsys.files import replace_dir, temp_dir_for, write_json_atomic
from recsys.features.counting import ValueCounter
from recsys.features.fitted import FittedFeatures, categorical_values, count_values, staged_frame
from recsys.features.spec import DatasetConfig
from recsys.threads import ordered_map

WORKERS = 2
"""Blocks processed at once: enough to overlap one block's single-threaded steps (file reads,
IPC and Parquet writes) with another's; each in flight holds one ~28 MB text block."""


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
    rejects: list[pl.DataFrame] = field(default_factory=list)


def prepare_dataset(inputs: list[Path], cfg: DatasetConfig, out: Path, fmt: str, strict: bool = False) -> PrepareResult:
    """Run the passes; see the module docstring. Raises RecsysError subclasses on bad input."""
    start = time.perf_counter()
    raw.require_files(inputs)
    out = Path(out)
    tmp = temp_dir_for(out)
    try:
        sources = [raw.SourceFile(str(p)) for p in inputs]
        splitter = splitter_for(inputs, cfg, fmt)
        counter = ValueCounter(tmp / COUNTS, field_numbers=field_numbers(cfg))
        stage = stage_inputs(list(enumerate(inputs)), inputs, sources, cfg, fmt, tmp / STAGE, counter, strict, splitter)
        check_rows(inputs, stage.rows, stage.rejected)
        if stage.rejects:
            write_rejects(stage.rejects, inputs, tmp)
        fitted = FittedFeatures.fit(cfg, stage.counter.finish(cfg.categorical_fields, fit_min_count(cfg)))
        shutil.rmtree(tmp / COUNTS, ignore_errors=True)
        fhash = fitted.save(tmp / "features")
        counts = write_splits(stage.parts, fitted, tmp)
        shutil.rmtree(tmp / STAGE)
        manifest = manifest_of(cfg, fmt, fitted, fhash, counts, stage.rejected, sources)
        write_json_atomic(tmp / MANIFEST, manifest)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    total = sum(counts.values()) + stage.rejected
    return PrepareResult(out, counts, stage.rejected, total, time.perf_counter() - start, manifest)


COUNTS, STAGE = "_counts", "_stage"


def splitter_for(inputs: list[Path], cfg: DatasetConfig, fmt: str) -> SplitAssigner:
    return SplitAssigner.for_inputs(cfg.split, inputs, fmt, cfg.columns.index(cfg.label), cfg.separator)


def field_numbers(cfg: DatasetConfig) -> dict[str, int]:
    """Spill directory numbers of the categorical fields: the same in every counter."""
    return {name: i for i, name in enumerate(cfg.categorical_fields)}


def fit_min_count(cfg: DatasetConfig) -> int:
    """Vocabulary encoding keeps values seen ``min_count`` times; hash encoding needs only the
    distinct counts (no value is kept)."""
    return cfg.min_count if cfg.encoding == "vocab" else 1 << 62


def check_rows(inputs: list[Path], rows: int, rejected: int) -> None:
    if rows == 0:
        raise InputFileError(f"no valid rows in {', '.join(map(str, inputs))} ({rejected} rejected)")


def stage_inputs(files: list[tuple[int, Path]], inputs: list[Path], sources: list[raw.SourceFile],
                 cfg: DatasetConfig, fmt: str, stage_dir: Path, counter: ValueCounter, strict: bool,
                 splitter: SplitAssigner) -> _Stage:
    """Pass 1 over ``files`` (``(file_no, path)`` of ``inputs``): parse, validate, assign splits,
    count train values, stage keys under ``stage_dir``; rejects aside. Fills ``sources[file_no]``.

    Blocks are read in order here and processed by :data:`WORKERS` threads; counts are added
    in block order, so the result does not depend on the thread count.
    """
    stage = _Stage(counter)
    stage_dir.mkdir(parents=True)
    blocks = ((file_no, parse) for file_no, path in files
              for parse in raw.read_blocks(path, sources[file_no], cfg, fmt, file_no))
    numbered = ((stage_dir / f"part-{k:05d}.arrow", file_no, parse) for k, (file_no, parse) in enumerate(blocks))
    for block in ordered_map(lambda item: _stage_block(*item, cfg, splitter, strict), numbered, WORKERS):
        if strict:
            raw.raise_first_reject(block.rejects, inputs)
        sources[block.file_no].rows += block.rows + block.rejects.height
        stage.rejected += block.rejects.height
        if block.rejects.height:
            stage.rejects.append(block.rejects)
        stage.counter.add(block.train_counts)
        stage.parts.append(block.part)
        stage.rows += block.rows
    for file_no, _ in files:
        if sources[file_no].rows == 0:
            raise InputFileError(f"input file is empty: {sources[file_no].path}")
    return stage


@dataclass
class _StagedBlock:
    """One block's pass-1 result: its staged part, row count, rejects and train value counts."""

    part: Path
    file_no: int
    rows: int
    rejects: pl.DataFrame
    train_counts: dict[str, pl.DataFrame]


def _stage_block(part: Path, file_no: int, parse: raw.Parse, cfg: DatasetConfig, splitter: SplitAssigner,
                 strict: bool) -> _StagedBlock:
    """One block (in a worker thread): parse, split, count train values, write the staged part."""
    good, bad = parse()
    if strict and bad.height:  # the caller raises; nothing more to do
        return _StagedBlock(part, file_no, 0, bad, {})
    typed = raw.typed_columns(good, cfg)
    codes = splitter.codes(typed[raw.FILE_NO].to_numpy(), typed[raw.LINE_NO].to_numpy())
    cats = categorical_values(typed, cfg)
    counts = count_values(cats.filter(pl.Series(codes == TRAIN)))
    staged = staged_frame(typed, cfg, cats).with_columns(pl.Series("_split", codes))
    staged.write_ipc(part, compression="uncompressed")
    return _StagedBlock(part, file_no, typed.height, bad, counts)


def write_rejects(rejects: list[pl.DataFrame], inputs: list[Path], tmp: Path) -> None:
    (tmp / "rejects").mkdir()
    paths = pl.Series([str(p) for p in inputs])
    frame = pl.concat(rejects)
    frame.with_columns(pl.col(raw.FILE_NO).map_batches(lambda f: paths.gather(f), return_dtype=pl.String)
                       .alias("_path")).write_parquet(tmp / "rejects" / "rejects.parquet")


class _SplitWriter:
    """Appends encoded frames to ``split/part-[PREFIX]NNNNN.parquet``, one row group of
    ``row_group_rows`` rows per file (the last may be shorter): the loader's unit of work and
    shuffling. Several writers with different prefixes (one per input file, distributed prepare)
    share a directory; files sort in row order.

    Polars writes the file, encoding columns in parallel (about 2x PyArrow's ParquetWriter here).
    """

    def __init__(self, root: Path, row_group_rows: int, prefix: str = "") -> None:
        root.mkdir(exist_ok=True)
        self.root, self.rg, self.rows, self.files, self.prefix = root, row_group_rows, 0, 0, prefix
        self.buffer: list[pl.DataFrame] = []
        self.buffered = 0

    def append(self, df: pl.DataFrame) -> None:
        self.buffer.append(df)
        self.buffered += df.height
        if self.buffered >= self.rg:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        data = pl.concat(self.buffer) if self.buffer else pl.DataFrame()
        self.buffer, self.buffered = [], 0
        start = 0
        while data.height - start >= (1 if final else self.rg):
            self._write(data.slice(start, self.rg))
            start += self.rg
        if start < data.height:
            self.buffer, self.buffered = [data.slice(start)], data.height - start

    def _write(self, df: pl.DataFrame) -> None:
        df.write_parquet(self.root / f"part-{self.prefix}{self.files:05d}.parquet", compression="lz4",
                         row_group_size=self.rg)
        self.files += 1
        self.rows += df.height

    def close(self) -> int:
        self._flush(final=True)
        return self.rows


def write_splits(parts: list[Path], fitted: FittedFeatures, tmp: Path, prefix: str = "") -> dict[str, int]:
    """Pass 2: resolve staged value keys to ids and append each row to its split."""
    writers = [_SplitWriter(tmp / name, fitted.dataset.row_group_rows, prefix) for name in SPLIT_NAMES]
    for frames in ordered_map(lambda part: _encode_part(part, fitted), parts, WORKERS):
        for frame, writer in zip(frames, writers):
            writer.append(frame)
    return {name: w.close() for name, w in zip(SPLIT_NAMES, writers)}


def _encode_part(part: Path, fitted: FittedFeatures) -> list[pl.DataFrame]:
    """One staged part (in a worker thread) -> encoded rows of each split, in SPLIT_NAMES order."""
    staged = pl.read_ipc(part)
    encoded = fitted.encode_staged(staged.drop("_split"))
    codes = staged["_split"].to_numpy()
    return [encoded.filter(pl.Series(codes == code)) for code in range(len(SPLIT_NAMES))]


def manifest_of(cfg: DatasetConfig, fmt: str, fitted: FittedFeatures, fhash: str, counts: dict[str, int],
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
