"""Exact value counting: spilling to disk past the memory budget changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recsys.features.counting import ValueCounter
from recsys.features.fitted import count_values


def _blocks(seed: int, n_blocks: int = 9, rows: int = 2_000) -> list[pl.DataFrame]:
    rng = np.random.default_rng(seed)
    # Heavy-tailed values: most seen once, a few very often. "b" is like a bucketized dense
    # field: Int64 with missing values (null), counted under the vocabulary value "".
    return [pl.DataFrame({"a": [f"{v:08x}" for v in rng.zipf(1.3, rows) % 5_000],
                          "b": pl.Series([None if v % 7 == 0 else int(v) for v in rng.zipf(2.0, rows)],
                                         dtype=pl.Int64)})
            for _ in range(n_blocks)]


def _order(row: tuple) -> tuple:
    return (row[0], row[1])


def _count(blocks: list[pl.DataFrame], directory: Path, budget: int, min_count: int) -> dict:
    counter = ValueCounter(directory, budget_rows=budget)
    for block in blocks:
        counter.add(count_values(block))
    return counter.finish(["a", "b", "never_seen"], min_count), counter.spills


def test_spilled_counts_equal_in_memory_counts_and_a_plain_group_by(tmp_path: Path) -> None:
    blocks = _blocks(0)
    in_memory, no_spills = _count(blocks, tmp_path / "m", budget=10**9, min_count=2)
    spilled, spills = _count(blocks, tmp_path / "s", budget=500, min_count=2)
    assert no_spills == 0 and spills >= 5
    everything = pl.concat(blocks)
    for name in ("a", "b"):
        value = pl.col(name).cast(pl.String).fill_null("")
        truth = everything.group_by(value).len().filter(pl.col("len") >= 2)
        expected = sorted(truth.iter_rows(), key=_order)
        for result in (in_memory, spilled):
            got = sorted(result[name].kept.select("value", "count").iter_rows(), key=_order)
            assert got == expected
            assert result[name].distinct == everything[name].n_unique()
    assert spilled["never_seen"].distinct == 0 and spilled["never_seen"].kept.height == 0


def test_huge_min_count_keeps_only_distinct_counts(tmp_path: Path) -> None:
    result, _ = _count(_blocks(1, n_blocks=3), tmp_path, budget=300, min_count=1 << 62)
    assert result["a"].kept.height == 0 and result["a"].distinct > 100
