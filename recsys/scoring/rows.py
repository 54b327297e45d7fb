"""Rows from a request (JSON objects or an Arrow table) -> the typed frame the predictor scores.

The service and any other online caller validate here, with the rules batch scoring applies
to files (:func:`recsys.data.raw.reason_expr`), plus what only a request can get wrong: a row
that is not an object, a field name the dataset does not have, a value that is not a string
or a number. Missing fields are legal (they score through the out-of-vocabulary row).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import polars as pl
import pyarrow as pa

from recsys.data import raw
from recsys.errors import RecsysError
from recsys.features.spec import DatasetConfig


class RowError(RecsysError):
    """A request row cannot be scored; names the 0-based row and the field."""

    def __init__(self, message: str, row: Optional[int] = None, field: Optional[str] = None) -> None:
        where = ", ".join(p for p in (f"row {row}" if row is not None else "", f"field {field!r}" if field else "") if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.row, self.field = row, field


def _text(value: Any, row: int, field: str) -> Optional[str]:
    """A JSON value -> the raw text a log file would hold (integral floats without ``.0``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowError(f"expected a string or a number, got {type(value).__name__}", row, field)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RowError(f"expected a finite number, got {value}", row, field)
        if value.is_integer():
            return str(int(value))
    return str(value)


@dataclass(frozen=True)
class TextRows:
    """A request's rows before parsing: every dataset column as a String column (null where a
    row lacks the field), as a log file would hold them; :func:`text_rows_frame` parses and
    validates many requests' rows in one Polars pass."""

    frame: pl.DataFrame


def json_rows_text(rows: Sequence[Any], cfg: DatasetConfig) -> TextRows:
    """JSON rows -> :class:`TextRows`, checking what needs no parsing: each row is an object,
    every field name is the dataset's, every value a string, a number or null (numbers become
    the text a log file would hold). Cheap enough to run per request: the checks pass over the
    rows in C-level builtins, and rows of strings and nulls only (what a client sends when it
    forwards log values) go to Polars as they are (half the time of building per-column lists);
    only a column holding numbers is walked value by value, and only a bad request row by row
    (:func:`_first_bad_row`), to name its first bad row and field."""
    known = set(cfg.columns)
    if not all(type(r) is dict for r in rows) or not known.issuperset(itertools.chain.from_iterable(rows)):
        _first_bad_row(rows, cfg)
    schema = _text_schema(tuple(cfg.columns))
    if _TEXT.issuperset(map(type, itertools.chain.from_iterable(r.values() for r in rows))):
        return TextRows(pl.from_dicts(rows, schema=schema))
    out: dict[str, list[Optional[str]]] = {}
    try:
        for c in cfg.columns:
            col = [r.get(c) for r in rows]
            out[c] = col if _TEXT.issuperset(map(type, col)) else [_text(v, i, c) for i, v in enumerate(col)]
    except RowError:
        _first_bad_row(rows, cfg)
        raise
    return TextRows(pl.DataFrame(out, schema=schema))


@functools.lru_cache(maxsize=8)
def _text_schema(columns: tuple[str, ...]) -> dict[str, Any]:
    return {c: pl.String for c in columns}


_TEXT = {str, type(None)}


def _first_bad_row(rows: Sequence[Any], cfg: DatasetConfig) -> None:
    """Raise the :class:`RowError` of the first row (in row order, then field order) that is not
    an object of known fields holding strings, numbers or nulls."""
    known = set(cfg.columns)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RowError(f"expected an object of field: value, got {type(row).__name__}", i)
        for field, value in row.items():
            if field not in known:
                raise RowError(f"unknown field (this model's fields: {', '.join(cfg.columns)})", i, field)
            _text(value, i, field)


def text_rows_frame(frame: pl.DataFrame, cfg: DatasetConfig) -> tuple[pl.DataFrame, list[Optional[str]]]:
    """String columns of every raw field (:attr:`TextRows.frame`, or many requests' concatenated)
    -> (typed frame of the valid rows, each row's failure or None): one Polars pass.
    Messages are formatted only when some row fails (a request's rows are usually all good)."""
    frame = frame.with_columns(pl.col(cfg.label).fill_null("0"))  # the label is not needed to score
    if not frame.select(raw.failed_expr(cfg, from_text=False, time_required=False)).to_series().any():
        return raw.typed_columns(frame, cfg), [None] * frame.height
    reasons = frame.select(raw.reason_expr(cfg, from_text=False, time_required=False)).to_series().to_list()
    frame = frame.filter(pl.Series([r is None for r in reasons]))
    return raw.typed_columns(frame, cfg), reasons


def _first_error(reasons: Sequence[Optional[str]]) -> None:
    bad = next((i for i, r in enumerate(reasons) if r is not None), None)
    if bad is not None:
        raise row_error(str(reasons[bad]), bad)


def row_error(reason: str, row: int) -> RowError:
    """A validation failure (``"FIELD: message"``) of row ``row`` as a :class:`RowError`."""
    field, _, message = reason.partition(": ")
    return RowError(message, row, field)


def json_rows_frame(rows: Sequence[Any], cfg: DatasetConfig) -> pl.DataFrame:
    """JSON rows (objects keyed by the dataset's raw column names) -> typed frame, or the first
    bad row's :class:`RowError`."""
    typed, reasons = text_rows_frame(json_rows_text(rows, cfg).frame, cfg)
    _first_error(reasons)
    return typed


def arrow_rows_frame(table: pa.Table, cfg: DatasetConfig) -> pl.DataFrame:
    """An Arrow table whose columns are raw column names (any subset) -> typed frame."""
    unknown = [c for c in table.column_names if c not in set(cfg.columns)]
    if unknown:
        raise RowError(f"unknown field (this model's fields: {', '.join(cfg.columns)})", field=unknown[0])
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    bad = [c for c, t in frame.schema.items() if not (t.is_numeric() or t == pl.String or t == pl.Null)]
    if bad:
        raise RowError(f"expected a string or numeric column, got {frame.schema[bad[0]]}", field=bad[0])
    frame = frame.select([_text_column(c, frame.schema[c]) if c in frame.columns
                          else pl.lit(None, dtype=pl.String).alias(c) for c in cfg.columns])
    return typed_request_frame(frame, cfg)


def _text_column(name: str, dtype: pl.DataType) -> pl.Expr:
    """A column as the raw text a log file would hold (integral floats without ``.0``)."""
    col = pl.col(name)
    if dtype.is_float():
        integral = col.is_finite() & (col == col.floor())
        return pl.when(integral).then(col.cast(pl.Int64).cast(pl.String)).otherwise(col.cast(pl.String)).alias(name)
    return col.cast(pl.String)


def typed_request_frame(frame: pl.DataFrame, cfg: DatasetConfig) -> pl.DataFrame:
    """String columns of every raw field -> :func:`recsys.data.raw.typed_columns`, or the first
    row's validation failure as a :class:`RowError`."""
    typed, reasons = text_rows_frame(frame, cfg)
    _first_error(reasons)
    return typed
