"""Ingestion benchmark: `recsys prepare` vs a pandas read_csv + LabelEncoder + to_parquet baseline.

    .venv/bin/python benchmarks/ingest.py --rows 1000000 10000000 --out bench_out/ingest
    .venv/bin/python benchmarks/ingest.py --rows 1000000 --files 4 --ray-workers 1 2

Both sides write their output (ours a DATA_DIR, pandas one Parquet file of encoded columns).
``--files K`` cuts the input into K files (by lines) first; ``--ray-workers`` adds
``recsys prepare --workers N`` runs on them (distributed prepare parallelizes over files).

Each measurement runs in its own process (peak RSS per run). Prints rows/s, MB/s, peak
RSS and the speed ratio over pandas; the pandas baseline is skipped above --pandas-max rows.
``--repeat N`` alternates recsys and pandas N times per size and reports medians (this
machine's speed drifts 10-25% between runs; alternating keeps the ratio fair).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table, recsys_cmd, run_measured, synth  # noqa: E402

PANDAS = r"""
import sys, time
import pandas as pd
from sklearn.preprocessing import LabelEncoder
cols = ['label'] + [f'I{i}' for i in range(1, 14)] + [f'C{i}' for i in range(1, 27)]
t = time.perf_counter()
df = pd.read_csv(sys.argv[1], sep='\t', header=None, names=cols)
read = time.perf_counter() - t
for c in cols[14:]:
    df[c] = LabelEncoder().fit_transform(df[c].fillna('').astype(str))
for c in cols[1:14]:
    df[c] = df[c].fillna(0)
df.to_parquet(sys.argv[2])
print(read, time.perf_counter() - t)
"""


def cut(raw: Path, files: int) -> list[Path]:
    """``raw`` cut into ``files`` files of consecutive lines (cached beside it)."""
    if files <= 1:
        return [raw]
    parts = [raw.with_name(f"{raw.stem}.part{i}of{files}.tsv") for i in range(files)]
    if not all(p.is_file() for p in parts):
        lines = raw.read_bytes().splitlines(keepends=True)
        step = -(-len(lines) // files)
        for i, p in enumerate(parts):
            p.write_bytes(b"".join(lines[i * step:(i + 1) * step]))
    return parts


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=float, nargs="+", default=[1e6])
    p.add_argument("--out", type=Path, default=Path("bench_out/ingest"))
    p.add_argument("--pandas-max", type=float, default=2e6)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--files", type=int, default=1, help="cut the input into this many files first")
    p.add_argument("--ray-workers", type=int, nargs="*", default=[])
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    results = []
    for rows in map(int, a.rows):
        raw = a.out / f"criteo_{rows}.tsv"
        synth(raw, rows)
        mb = raw.stat().st_size / 1e6
        inputs = [str(f) for f in cut(raw, a.files)]
        ours, base = [], []
        prepare = recsys_cmd("prepare", *inputs, "--format", "criteo", "--overwrite", "--out")
        for _ in range(a.repeat):
            ours.append(run_measured([*prepare, str(a.out / f"data_{rows}")]))
            if rows <= a.pandas_max:
                base.append(run_measured([sys.executable, "-c", PANDAS, str(raw), str(a.out / f"pandas_{rows}.parquet")]))
        for w in a.ray_workers:
            r = run_measured([*prepare, str(a.out / f"data_{rows}_ray{w}"), "--workers", str(w)])
            results.append({"rows": rows, "MB": mb, "recsys_s": r["seconds"], "recsys_rows_s": rows / r["seconds"],
                            "recsys_MB_s": mb / r["seconds"], "recsys_rss_mb": r["peak_rss_mb"],
                            "mode": f"ray:{w}_workers,{a.files}_files"})
        seconds = statistics.median(r["seconds"] for r in ours)
        row = {"mode": f"single:{a.files}_files", "rows": rows, "MB": mb, "recsys_s": seconds, "recsys_rows_s": rows / seconds,
               "recsys_MB_s": mb / seconds, "recsys_rss_mb": max(r["peak_rss_mb"] for r in ours)}
        if base:
            pandas_s = statistics.median(r["seconds"] for r in base)
            ratios = [b["seconds"] / o["seconds"] for o, b in zip(ours, base)]
            row.update({"pandas_s": pandas_s, "pandas_rss_mb": max(r["peak_rss_mb"] for r in base),
                        "speedup": pandas_s / seconds, "speedup_range": f"{min(ratios):.2f}-{max(ratios):.2f}"})
        results.append(row)
    print_table(results, ["rows", "MB", "recsys_s", "recsys_rows_s", "recsys_MB_s", "recsys_rss_mb",
                          "pandas_s", "pandas_rss_mb", "speedup", "speedup_range", "mode"])
    single = [r for r in results if r["mode"].startswith("single")]
    if len(single) > 1:
        growth = single[-1]["recsys_rss_mb"] / single[0]["recsys_rss_mb"] - 1
        print(f"peak RSS growth {single[0]['rows']:,} -> {single[-1]['rows']:,} rows: {growth:+.0%}")


if __name__ == "__main__":
    main()
