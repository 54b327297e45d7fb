"""Batch scoring end to end: ``recsys score`` on raw synthetic Criteo rows -> probabilities.

    .venv/bin/python benchmarks/score.py [--rows 1000000] [--baseline]

A DeepFM bundle (one epoch on the same rows) scores the raw file: read, validate, encode,
model, Parquet out, all counted. Run at two sizes to show peak RSS flat in rows. With
``--baseline``, DeepCTR-Torch 0.3.0's ``DeepFM.predict`` on already-encoded arrays of the same
file (its documented recipe, `benchmarks/baselines/deepctr.py`) gives the rows/s to compare.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table, recsys_cmd, run_measured, synth  # noqa: E402
from benchmarks.serve import bundle  # noqa: E402
from benchmarks.train import baseline  # noqa: E402


def score(target: Path, raw: Path, out: Path) -> dict:
    r = run_measured(recsys_cmd("score", str(target), str(raw), "--format", "criteo", "--out", str(out)))
    rows = int(r["stdout"].split("scored ")[1].split(" rows")[0].replace(",", ""))
    return {"run": f"recsys score, {rows:,} raw rows", "rows_per_s": rows / r["seconds"],
            "peak_rss_mb": r["peak_rss_mb"], "wall_s": r["seconds"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--out", type=Path, default=Path("bench_out/train"))
    p.add_argument("--baseline", action="store_true")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    target = bundle(a.out, a.rows)
    raw = a.out / f"criteo_{a.rows}.tsv"
    small = a.out / f"criteo_{a.rows // 5}.tsv"
    synth(small, a.rows // 5)
    results = [score(target, small, a.out / "scores_small.parquet"), score(target, raw, a.out / "scores.parquet")]
    if a.baseline:
        base = baseline(raw, "deepfm")
        if base:
            results.append({"run": "DeepCTR-Torch DeepFM.predict (encoded arrays, 10% test rows)",
                            "rows_per_s": base["scoring_rows_per_s"], "peak_rss_mb": base["peak_rss_mb"]})
            print(f"recsys score / DeepCTR-Torch predict: {results[1]['rows_per_s'] / base['scoring_rows_per_s']:.2f}x")
    print_table(results, ["run", "rows_per_s", "peak_rss_mb", "wall_s"])


if __name__ == "__main__":
    main()
