"""Pure Polars expressions that turn typed raw columns into model inputs.

* ``log``: ``log(max(x, 0) + 1)``, missing -> 0 (DLRM reference convention);
* ``bucket``: ``floor(ln(x)^2)`` for ``x > 2``, else ``x`` (Criteo winners / FuxiCTR /
  OptFS), turning a dense field into a categorical; missing stays its own value (null, "" in
  the vocabulary);
* missing indicator: ``1.0`` where the raw value was missing.
"""

from __future__ import annotations

import polars as pl


def log_dense(name: str) -> pl.Expr:
    """Dense Int64 (null = missing) -> float32 ``log1p(max(x, 0))``, missing -> 0."""
    return pl.col(name).clip(lower_bound=0).cast(pl.Float64).log1p().fill_null(0.0).cast(pl.Float32).alias(name)


def identity_dense(name: str) -> pl.Expr:
    """Dense value as float32, missing -> 0."""
    return pl.col(name).cast(pl.Float32).fill_null(0.0).alias(name)


def missing_indicator(name: str) -> pl.Expr:
    """1.0 where ``name`` is missing, else 0.0, as ``{name}_missing``."""
    return pl.col(name).is_null().cast(pl.Float32).alias(f"{name}_missing")


def bucket_dense(name: str) -> pl.Expr:
    """Dense Int64 -> categorical bucket Int64: ``floor(ln(x)^2)`` if ``x > 2`` else ``x``; missing
    stays null. Kept as integers (counted and keyed without making strings); the vocabulary
    stores each bucket as its decimal string, missing as ""."""
    x = pl.col(name)
    return pl.when(x > 2).then(x.cast(pl.Float64).log().pow(2).floor().cast(pl.Int64)).otherwise(x).alias(name)
