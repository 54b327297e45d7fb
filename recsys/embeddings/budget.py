"""Embedding budgets: ``2.5MB``, ``300KiB``, ``1e6rows`` -> a number of float32 rows."""

from __future__ import annotations

import re

from recsys.errors import ConfigError

_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(rows|[kmg]?i?b)\s*$", re.IGNORECASE)


def budget_rows(budget: str, embedding_dim: int, bytes_per_value: int = 4) -> int:
    """Rows of width ``embedding_dim`` that fit ``budget`` (bytes or rows)."""
    m = _PATTERN.match(budget)
    if not m:
        raise ConfigError(f"embedding budget {budget!r}: expected a size like 2.5MB, 300KiB or 1e6rows")
    value, unit = float(m.group(1)), m.group(2).lower()
    rows = value if unit == "rows" else value * _UNITS[unit] / (embedding_dim * bytes_per_value)
    if rows < 1:
        raise ConfigError(f"embedding budget {budget!r} holds less than one row of dim {embedding_dim}")
    return int(rows)
