"""Reading raw logs: blocks of lines -> validated, typed Polars frames plus rejects.

Files are read in byte blocks cut at line ends (plain or gzip, detected by magic bytes),
so memory stays flat in the file size. Each block becomes a one-column frame of lines
parsed by Polars (no per-row Python). Validation rules (first failure is the reason):

* wrong number of fields (short rows may be padded when ``short_rows: pad``);
* a label other than 0/1; a non-integer in a dense (integer) field;
* a malformed time column (``YYMMDDHH``); an empty line.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import polars as pl

from recsys.errors import BadRowError, InputFileError
from recsys.features.spec import DatasetConfig

BLOCK_BYTES = 28 << 20
"""Text read per block. A block plus its line tail stays under glibc's 32 MB mmap ceiling, so
freed blocks are reused from the heap instead of being mapped and page-faulted afresh (1M
Criteo rows: 255k minor faults at 28 MB, 320k at 32 MB; 64 MB blocks were no faster)."""
TAIL_BYTES = 1 << 16
LINE, LINE_NO, FILE_NO, REASON = "_raw", "_line", "_file", "_reason"


class _HashingReader(io.RawIOBase):
    """Wraps a compressed file for GzipFile, feeding every byte read into a SHA-256."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.sha, self.nbytes = fh, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def, override]
        data = self.fh.read(len(b))
        n = len(data)
        b[:n] = data
        self.sha.update(data)
        self.nbytes += n
        return n


class _PlainReader:
    """A plain file read in large blocks, hashed as it goes (no per-call copy)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.sha, self.nbytes = fh, hashlib.sha256(), 0

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        self.nbytes += len(data)
        return data


@dataclass
class SourceFile:
    """Size and checksum of one input, filled in while it is read."""

    path: str
    bytes: int = 0
    sha256: str = ""
    rows: int = 0



def require_files(paths: list[Path]) -> None:
    """Raise InputFileError naming the first of ``paths`` that is not a readable file."""
    for path in paths:
        if not Path(path).is_file():
            raise InputFileError(f"input file not found: {path}")

def iter_line_blocks(path: Path, source: SourceFile, block_bytes: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(block, first_line_number, lines)``; each block ends at a line end (about
    ``block_bytes``, default :data:`BLOCK_BYTES`, long) and holds ``lines`` lines.

    Raises InputFileError for a missing or unreadable (bad gzip) file.
    """
    require_files([path])
    with open(path, "rb", buffering=0) as raw:
        is_gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        hasher: _HashingReader | _PlainReader
        if is_gz:
            hasher = _HashingReader(raw)  # type: ignore[arg-type]  # FileIO is a BinaryIO at runtime
            stream: gzip.GzipFile | _PlainReader = gzip.GzipFile(fileobj=io.BufferedReader(hasher))
        else:
            hasher = stream = _PlainReader(raw)  # type: ignore[arg-type]  # same
        line_no, rest = 1, b""
        try:
            while True:
                data = stream.read(block_bytes or BLOCK_BYTES)
                if not data and not rest:
                    break
                block, rest = _to_line_end(stream, [rest, data])
                lines = block.count(b"\n")
                yield block, line_no, lines
                line_no += lines
        except (OSError, EOFError, zlib.error) as exc:
            raise InputFileError(f"{path}: cannot read ({'gzip' if is_gz else 'file'}): {exc}") from exc
        source.bytes, source.sha256 = hasher.nbytes, hasher.sha.hexdigest()


def _to_line_end(stream: gzip.GzipFile | _PlainReader, parts: list[bytes]) -> tuple[bytes, bytes]:
    """``parts`` plus what follows up to the next line end, joined (one copy of the block);
    returns ``(block, rest)`` with ``rest`` the bytes read past that line end. A last line
    without a line end gets one."""
    while not parts[-1].endswith(b"\n"):
        more = stream.read(TAIL_BYTES)
        if not more:
            parts.append(b"\n")
            break
        cut = more.find(b"\n") + 1
        if cut:
            parts.append(more[:cut])
            return b"".join(parts), more[cut:]
        parts.append(more)
    return b"".join(parts), b""


def lines_frame(block: bytes, first_line: int, file_no: int) -> pl.DataFrame:
    """One block of text -> frame ``(_raw: str, _line: int64, _file: int32)`` in file order
    (a line that is not valid UTF-8 reads as empty)."""
    block, _ = blank_invalid_utf8(block)
    df = pl.read_csv(io.BytesIO(block), has_header=False, separator="\x00", quote_char=None,
                     schema={LINE: pl.String}, raise_if_empty=False)
    return numbered(df, first_line, file_no)


def numbered(df: pl.DataFrame, first_line: int, file_no: int) -> pl.DataFrame:
    """``df`` (consecutive rows from ``first_line``) plus ``_line`` (int64) and ``_file`` (int32)."""
    return df.with_columns(pl.int_range(first_line, first_line + df.height, dtype=pl.Int64).alias(LINE_NO),
                           pl.lit(file_no, dtype=pl.Int32).alias(FILE_NO))


def _field_count_checks(cfg: DatasetConfig) -> list[tuple[pl.Expr, pl.Expr]]:
    n = len(cfg.columns)
    nfields = pl.col(LINE).str.count_matches(cfg.separator, literal=True) + 1
    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (pl.col(LINE).is_null() | (pl.col(LINE).str.len_bytes() == 0), pl.lit("empty line")),
        (nfields > n, pl.format(f"expected {n} fields, got {{}}", nfields)),
    ]
    if cfg.short_rows == "reject":
        checks.append((nfields < n, pl.format(f"expected {n} fields, got {{}}", nfields)))
    return checks


def row_checks(cfg: DatasetConfig, from_text: bool = True, time_required: bool = True) -> list[tuple[pl.Expr, pl.Expr]]:
    """The validation rules of a row, in order: (condition that fails it, message naming the field).

    ``time_required=False`` (a scoring request): a missing time value is legal, its derived
    fields score as unseen values; a present one must still be ``YYMMDDHH``."""
    checks = _field_count_checks(cfg) if from_text else []
    checks.append((_bad_label(cfg),
                   pl.format(f"{cfg.label}: label must be 0 or 1, got '{{}}'", pl.col(cfg.label).fill_null(""))))
    for d in cfg.dense:
        bad = (pl.col(d).fill_null("") != "") & pl.col(d).cast(pl.Int64, strict=False).is_null()
        checks.append((bad, pl.format(f"{d}: not an integer: '{{}}'", pl.col(d))))
    if cfg.time_column:
        t = pl.col(cfg.time_column)
        bad_time = _bad_time(t) if time_required else t.is_not_null() & _bad_time(t)
        checks.append((bad_time, pl.format(f"{cfg.time_column}: expected YYMMDDHH, got '{{}}'", t.fill_null(""))))
    return checks


@functools.lru_cache(maxsize=64)  # built once per config: a small request pays no expression building
def reason_expr(cfg: DatasetConfig, from_text: bool = True, time_required: bool = True) -> pl.Expr:
    """First validation failure of a row (:func:`row_checks`) as a string, null when the row is good."""
    expr = pl.lit(None, dtype=pl.String)
    for cond, msg in reversed(row_checks(cfg, from_text, time_required)):
        expr = pl.when(cond).then(msg).otherwise(expr)
    return expr


@functools.lru_cache(maxsize=64)
def failed_expr(cfg: DatasetConfig, from_text: bool = True, time_required: bool = True) -> pl.Expr:
    """Whether a row fails any of :func:`row_checks`: a cheap first pass (no messages are
    formatted) for small frames, where :func:`reason_expr` costs more than the rows."""
    return pl.any_horizontal(cond for cond, _ in row_checks(cfg, from_text, time_required)).fill_null(False)


def _bad_label(cfg: DatasetConfig) -> pl.Expr:
    return ~pl.col(cfg.label).is_in(["0", "1"]).fill_null(False)


def _bad_time(t: pl.Expr) -> pl.Expr:
    return ~t.fill_null("").str.contains(r"^\d{8}$") | t.str.slice(0, 6).str.to_date("%y%m%d", strict=False).is_null()


def _is_header(cfg: DatasetConfig) -> pl.Expr:
    header = cfg.separator.join(cfg.columns)
    return (pl.col(LINE_NO) == 1) & (pl.col(LINE) == header)


SENTINEL = "\x01"


def parse_block(block: bytes, first_line: int, file_no: int, cfg: DatasetConfig,
                lines: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One block of text -> ``(good, rejects)`` as :func:`parse_lines`, on Polars' native CSV reader.

    A clean block is read once with typed dense columns (:func:`_parse_typed`). Otherwise lines
    that are not UTF-8 are set aside as rejects, and every line gets a sentinel field appended
    (``\t\x01``): a row is well-formed exactly when the sentinel lands in column ``n + 1``.
    Short, long and empty rows, and blocks the trick cannot handle (a sentinel byte in the
    data), take the line-by-line path.
    """
    text = block.replace(b"\r\n", b"\n") if b"\r" in block else block
    lines = text.count(b"\n") if lines is None else lines
    typed = _parse_typed(text, first_line, lines, file_no, cfg)
    if typed is not None:
        return typed, _no_rejects()
    text, not_utf8 = blank_invalid_utf8(text)
    good, bad = _parse_validating(text, first_line, lines, file_no, cfg)
    return good, _reject_as_not_utf8(bad, first_line, not_utf8) if not_utf8 else bad


def blank_invalid_utf8(text: bytes) -> tuple[bytes, dict[int, str]]:
    """Empty every line that is not valid UTF-8 (Polars refuses the whole block otherwise).

    Returns the text and, per emptied line, its 0-based index in the block and its text with
    U+FFFD for the bad bytes (for the rejects file). Rare: clean text is one ``decode`` check.
    """
    try:
        text.decode("utf-8")
        return text, {}
    except UnicodeDecodeError:
        pass
    lines, bad = text.split(b"\n"), {}
    for i, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad[i], lines[i] = line.decode("utf-8", "replace"), b""
    return b"\n".join(lines), bad


def _reject_as_not_utf8(bad: pl.DataFrame, first_line: int, lines: dict[int, str]) -> pl.DataFrame:
    """Emptied lines were rejected as empty: give them their own reason and text back."""
    fix = pl.DataFrame({LINE_NO: [first_line + i for i in lines], "_text": list(lines.values())},
                       schema={LINE_NO: pl.Int64, "_text": pl.String})
    return bad.join(fix, on=LINE_NO, how="left", maintain_order="left").select(
        FILE_NO, LINE_NO,
        pl.when(pl.col("_text").is_null()).then(pl.col(REASON)).otherwise(pl.lit("not valid UTF-8")).alias(REASON),
        pl.coalesce("_text", LINE).alias(LINE))


def _parse_validating(text: bytes, first_line: int, lines: int, file_no: int,
                      cfg: DatasetConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The validating path of :func:`parse_block` (string columns, every rule checked)."""
    if SENTINEL.encode() in text:
        return parse_lines(lines_frame(text, first_line, file_no), cfg)
    marked = text.replace(b"\n", (cfg.separator + SENTINEL + "\n").encode())
    names = list(cfg.columns) + ["_sentinel"]
    df = pl.read_csv(io.BytesIO(marked), has_header=False, separator=cfg.separator, quote_char=None,
                     schema={c: pl.String for c in names}, empty_string_is_null=False,
                     truncate_ragged_lines=True, raise_if_empty=False, missing_columns="insert")
    if df.height != lines:
        return parse_lines(lines_frame(text, first_line, file_no), cfg)
    df = numbered(df, first_line, file_no)
    ragged = df["_sentinel"] != SENTINEL
    if ragged.any():
        rows = df.filter(ragged)[LINE_NO].to_list()
        slow_good, slow_bad = parse_lines(_lines_at(text, first_line, rows, file_no), cfg)
        good, bad = _validate(df.filter(~ragged).drop("_sentinel"), cfg)
        return (pl.concat([good, slow_good], how="diagonal_relaxed").sort(LINE_NO),
                pl.concat([bad, slow_bad]).sort(LINE_NO))
    return _validate(df.drop("_sentinel"), cfg)


def _parse_typed(text: bytes, first_line: int, lines: int, file_no: int, cfg: DatasetConfig) -> pl.DataFrame | None:
    """Fast path for a block whose every row is good: dense columns parsed as Int64 by the CSV
    reader. ``None`` (take the validating path) unless every line has exactly the configured
    number of separators, every integer parses, and labels and times are valid; a block with a
    space is not tried (the reader takes " 5" as 5, the validating path rejects it)."""
    sep = cfg.separator.encode()
    if len(sep) != 1 or text.count(sep) != (len(cfg.columns) - 1) * lines or (cfg.dense and b" " in text):
        return None
    schema = {c: pl.Int64 if c in cfg.dense else pl.String for c in cfg.columns}
    try:
        df = pl.read_csv(io.BytesIO(text), has_header=False, separator=cfg.separator, quote_char=None,
                         schema=schema, empty_string_is_null=False, raise_if_empty=False)
    except pl.exceptions.PolarsError:  # any row the typed reader refuses: validate row by row
        return None
    bad = _bad_label(cfg)
    if cfg.time_column:
        bad = bad | _bad_time(pl.col(cfg.time_column))
    if df.height != lines or df.select(bad.any()).item():
        return None
    return numbered(df, first_line, file_no)


def _no_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema={FILE_NO: pl.Int32, LINE_NO: pl.Int64, REASON: pl.String, LINE: pl.String})


def _lines_at(text: bytes, first_line: int, line_numbers: list[int], file_no: int) -> pl.DataFrame:
    """The raw text of selected lines (rare: only rows that need the line-by-line path)."""
    lines = text.split(b"\n")
    picked = [lines[n - first_line].decode("utf-8", "replace") for n in line_numbers]
    return pl.DataFrame({LINE: picked, LINE_NO: line_numbers, FILE_NO: [file_no] * len(picked)},
                        schema={LINE: pl.String, LINE_NO: pl.Int64, FILE_NO: pl.Int32})


def _validate(df: pl.DataFrame, cfg: DatasetConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Well-formed split rows -> ``(good, rejects)`` by the value rules (label, integers, time)."""
    if cfg.header in ("yes", "auto"):
        header = pl.concat_str([pl.col(c) for c in cfg.columns], separator=cfg.separator)
        df = df.filter(~((pl.col(LINE_NO) == 1) & (header == cfg.separator.join(cfg.columns))))
    return _split_rejects(df, cfg)


def _split_rejects(df: pl.DataFrame, cfg: DatasetConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split columns -> ``(good, rejects)`` by the value rules; the raw line of a reject is
    rebuilt from its fields (only for rejected rows)."""
    df = df.with_columns(reason_expr(cfg, from_text=False).alias(REASON))
    if df[REASON].null_count() == df.height:
        return df.drop(REASON), _no_rejects()
    cols = [pl.col(c).fill_null("") for c in cfg.columns if c in df.columns]
    raw_line = pl.concat_str(cols, separator=cfg.separator).alias(LINE)
    bad = df.filter(pl.col(REASON).is_not_null()).select(FILE_NO, LINE_NO, REASON, raw_line)
    return df.filter(pl.col(REASON).is_null()).drop(REASON), bad


def parse_lines(lines: pl.DataFrame, cfg: DatasetConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split and validate a lines frame.

    Returns ``(good, rejects)``: ``good`` has one String column per raw column plus
    ``_line``/``_file``; ``rejects`` has ``_file, _line, _reason, _raw``.
    """
    if cfg.header in ("yes", "auto"):
        lines = lines.filter(~_is_header(cfg).fill_null(False))
    names = list(cfg.columns)
    split = pl.col(LINE).str.split_exact(cfg.separator, len(names) - 1).struct.rename_fields(names)
    df = lines.with_columns(split.alias("_fields")).unnest("_fields")
    df = df.with_columns(reason_expr(cfg).alias(REASON))
    bad = df.filter(pl.col(REASON).is_not_null()).select(FILE_NO, LINE_NO, REASON, LINE)
    good = df.filter(pl.col(REASON).is_null()).drop(LINE, REASON)
    return good, bad


def raise_first_reject(rejects: pl.DataFrame, paths: list[Path]) -> None:
    """Under ``--strict``: raise BadRowError naming file and line of the first bad row."""
    if rejects.height:
        row = rejects.row(0, named=True)
        raise BadRowError(str(paths[row[FILE_NO]]), int(row[LINE_NO]), str(row[REASON]))


def typed_columns(good: pl.DataFrame, cfg: DatasetConfig) -> pl.DataFrame:
    """Validated string columns -> label Int8, dense Int64 (null = missing), categoricals String.

    Dense text was checked by :func:`row_checks` (empty or an integer), so a non-strict cast
    reads exactly the integers and turns empty into null."""
    schema = good.schema
    keep = tuple(c for c in (FILE_NO, LINE_NO) if c in schema)
    return good.select(*keep, *_typed_exprs(cfg, tuple(schema[d] == pl.Int64 for d in cfg.dense)))


@functools.lru_cache(maxsize=64)
def _typed_exprs(cfg: DatasetConfig, dense_is_int: tuple[bool, ...]) -> tuple[pl.Expr, ...]:
    exprs = [pl.col(cfg.label).cast(pl.Int8)]
    exprs += [pl.col(d) if is_int else pl.col(d).cast(pl.Int64, strict=False) for d, is_int in zip(cfg.dense, dense_is_int)]
    exprs += [pl.col(c).fill_null("") for c in cfg.categorical]
    if cfg.time_column:
        t = pl.col(cfg.time_column)
        day = t.str.slice(0, 6).str.to_date("%y%m%d").dt.weekday()
        exprs += [  # a missing time (legal in a scoring request) gives empty, unseen values
            t.str.slice(6, 2).cast(pl.Int32).cast(pl.String).fill_null("").alias("hour_of_day"),
            day.cast(pl.String).fill_null("").alias("weekday"),
            (day >= 6).cast(pl.Int8).cast(pl.String).fill_null("").alias("weekend"),
        ]
    return tuple(exprs)


def parquet_slices(path: Path, cfg: DatasetConfig, file_no: int, rows: int = 1 << 19) -> Iterator[pl.DataFrame]:
    """A Parquet input with the configured column names -> blocks of string columns.

    Values are cast to strings (validated later by the same rules as text input);
    ``_line`` is the 1-based row number in the file.
    """
    lf = _parquet_strings(path, cfg)
    total = lf.select(pl.len()).collect().item()
    for start in range(0, total, rows):
        yield numbered(lf.slice(start, rows).collect(), start + 1, file_no)


Parse = Callable[[], tuple[pl.DataFrame, pl.DataFrame]]
"""A block read but not yet parsed: call it (in any thread) for ``(good, rejects)``."""


def read_blocks(path: Path, source: SourceFile, cfg: DatasetConfig, fmt: str, file_no: int) -> Iterator[Parse]:
    """Any input (text, gzip or Parquet) -> blocks, in file order; fills ``source`` at the end.

    Reading is sequential (it runs in the caller's thread); the parsing each item defers may
    run in worker threads, so blocks parse in parallel.
    """
    if fmt == "parquet":
        for df in parquet_slices(path, cfg, file_no):
            yield functools.partial(_split_rejects, df, cfg)
        source.bytes, source.sha256 = path.stat().st_size, _sha256(path)
        return
    for block, first, lines in iter_line_blocks(path, source):
        yield functools.partial(parse_block, block, first, file_no, cfg, lines)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _parquet_strings(path: Path, cfg: DatasetConfig) -> pl.LazyFrame:
    """The configured columns of a Parquet file, cast to strings."""
    require_files([path])
    try:
        lf = pl.scan_parquet(path)
        names = lf.collect_schema().names()
    except Exception as exc:  # polars raises several error types for corrupt files
        raise InputFileError(f"{path}: not a readable Parquet file: {exc}") from exc
    missing = [c for c in cfg.columns if c not in names and c not in cfg.drop]
    if missing:
        raise InputFileError(f"{path}: missing column(s) {', '.join(missing)} for dataset {cfg.name}")
    return lf.select([pl.col(c).cast(pl.String) for c in cfg.columns if c in names])
