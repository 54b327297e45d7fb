"""Embedding memory for Criteo 1TB's 26 categorical fields: vocab, hashed and unified tables.

Arithmetic, not a measurement: rows x (dim + optimizer state) x 4 bytes, per strategy, and per
worker when the tables shard over W workers. Cardinalities are Criteo 1TB's distinct values per
field over all 24 days (TorchRec's DLRM example, ``--num_embeddings_per_feature``). Row-wise
Adagrad (our default sparse optimizer) keeps one float per row; Adam would keep 2 x dim.

    .venv/bin/python benchmarks/memory_1tb.py
"""

from __future__ import annotations

import argparse

CRITEO_1TB = [45833188, 36746, 17245, 7413, 20243, 3, 7114, 1441, 62, 29275261, 1572176, 345138, 10, 2209,
              11267, 128, 4, 974, 14, 48937457, 11316796, 40094537, 452104, 12606, 104, 35]


def table_bytes(rows: int, dim: int, state_per_row: int = 1) -> int:
    return rows * (dim + state_per_row) * 4


def strategies(hash_cap: int, unified_rows: int) -> dict[str, int]:
    """Total rows of each strategy: vocab (every distinct value), hashed (each field capped at
    ``hash_cap`` rows, MLPerf DLRM's ``max_ind_range`` style), unified (one shared table)."""
    return {"vocab": sum(CRITEO_1TB), f"hashed (cap {hash_cap:,}/field)": sum(min(c, hash_cap) for c in CRITEO_1TB),
            f"unified ({unified_rows:,} rows)": unified_rows}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--hash-cap", type=int, default=10_000_000)
    p.add_argument("--unified-rows", type=int, default=20_000_000)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 8, 16])
    a = p.parse_args()
    print("| strategy | rows | dim | GiB total | " + " | ".join(f"GiB/worker at {w}" for w in a.workers) + " |")
    print("|---|---|---|---|" + "---|" * len(a.workers))
    for name, rows in strategies(a.hash_cap, a.unified_rows).items():
        for dim in (16, 64):
            total = table_bytes(rows, dim) / 2**30
            per = " | ".join(f"{total / w:.1f}" for w in a.workers)
            print(f"| {name} | {rows:,} | {dim} | {total:.1f} | {per} |")


if __name__ == "__main__":
    main()
