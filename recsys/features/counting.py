"""Exact per-field value counts in bounded memory (vocabulary fitting at any input size).

Blocks of ``(key, count, value)`` tables (:func:`recsys.features.fitted.count_values`) are
merged in memory; when the merged tables hold more than ``budget_rows`` entries in all,
they are spilled to disk split into ``PARTITIONS`` by key, and memory starts afresh.
:meth:`ValueCounter.finish` then sums one field's partition at a time, so peak memory is
set by the budget and one partition, not by the number of distinct values in the input
(Criteo-sized fields reach millions). The result is exact: spilled tables keep every
key's value string, so no count or value is lost between spills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import polars as pl

PARTITIONS = 16
BUDGET_ROWS = 2_000_000
"""~28 bytes per entry (u64 key, u32 count, 16-byte string view): ~56 MB before a spill."""
MERGE_EVERY = 4


def merge_counts(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Sum the counts of several ``(key, count, value)`` tables of one field."""
    # All values of one key are the same string: first() is right, and faster than max().
    return pl.concat(parts).group_by("key").agg(pl.col("count").sum(), pl.col("value").first())


@dataclass
class FieldCounts:
    """One field's final counts: ``kept`` (``key, count, value`` with count >= min_count) and
    the number of distinct values seen."""

    kept: pl.DataFrame
    distinct: int


@dataclass
class ValueCounter:
    """Accumulates block counts per field; spills to ``spill_dir`` past ``budget_rows``."""

    spill_dir: Path
    budget_rows: int = BUDGET_ROWS
    parts: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    spills: int = 0
    field_numbers: dict[str, int] = field(default_factory=dict)
    """Spill directories are numbered by field (any field name is a safe path); give the fields'
    order up front when several counters spill into one ``spill_dir``."""
    prefix: str = ""
    """Spill file names start with it: several counters (one per input file, distributed
    prepare) spill into one ``spill_dir``, and :meth:`finish_partition` merges them all."""

    def add(self, block_counts: dict[str, pl.DataFrame]) -> None:
        """Add one block's per-field tables; merge every few blocks, spill past the budget."""
        for name, table in block_counts.items():
            parts = self.parts.setdefault(name, [])
            parts.append(table)
            if len(parts) >= MERGE_EVERY:
                self.parts[name] = [merge_counts(parts)]
        if sum(p.height for parts in self.parts.values() for p in parts) > self.budget_rows:
            self._spill()

    def _spill(self) -> None:
        for name, parts in self.parts.items():
            merged = merge_counts(parts).with_columns((pl.col("key") % PARTITIONS).cast(pl.UInt8).alias("_p"))
            for (p,), chunk in merged.partition_by("_p", as_dict=True, include_key=False).items():
                directory = self._dir(name, int(p))  # type: ignore[call-overload]
                directory.mkdir(parents=True, exist_ok=True)
                chunk.write_ipc(directory / f"{self.prefix}{self.spills:05d}.arrow", compression="uncompressed")
        self.parts = {name: [] for name in self.parts}
        self.spills += 1

    def flush(self) -> None:
        """Spill everything still in memory (the counts then live on disk only)."""
        if any(self.parts.values()):
            self._spill()

    def _dir(self, name: str, partition: int) -> Path:
        number = self.field_numbers.setdefault(name, len(self.field_numbers))
        return self.spill_dir / f"f{number:04d}" / f"p{partition:02d}"

    def finish(self, names: Sequence[str], min_count: int) -> dict[str, FieldCounts]:
        """Final counts of ``names`` (fields never seen get an empty table)."""
        return {name: self._finish_field(name, min_count) for name in names}

    def _finish_field(self, name: str, min_count: int) -> FieldCounts:
        memory = self.parts.pop(name, [])
        rest = merge_counts(memory) if memory else _empty()
        if not self._dir(name, 0).parent.is_dir():  # never spilled
            return FieldCounts(rest.filter(pl.col("count") >= min_count), rest.height)
        parts = [self.finish_partition(name, p, min_count, rest.filter(pl.col("key") % PARTITIONS == p))
                 for p in range(PARTITIONS)]
        return FieldCounts(pl.concat([c.kept for c in parts]), sum(c.distinct for c in parts))

    def finish_partition(self, name: str, partition: int, min_count: int,
                         rest: pl.DataFrame | None = None) -> FieldCounts:
        """Final counts of the keys of one partition of ``name``: every spill of it (of every
        counter that spilled into ``spill_dir``) plus ``rest``; memory is one partition's."""
        chunks = [pl.read_ipc(f) for f in sorted(self._dir(name, partition).glob("*.arrow"))]
        merged = merge_counts(chunks + ([rest] if rest is not None else [])) if chunks or rest is not None else _empty()
        return FieldCounts(merged.filter(pl.col("count") >= min_count), merged.height)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={"key": pl.UInt64, "count": pl.UInt32, "value": pl.String})


__all__ = ["BUDGET_ROWS", "FieldCounts", "PARTITIONS", "ValueCounter", "merge_counts"]
