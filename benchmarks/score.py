"""Batch scoring end to end: ``recsys score`` on raw synthetic Criteo rows -> probabilities.

    .venv/bin/python benchmarks/score.py [--rows 1000000] [--baseline]

A DeepFM bundle (one epoch on the same rows) scores the raw file: read, validate, encode,
model, Parquet out, all counted. Run at two sizes to show peak RSS flat in rows. With
``--baseline``, DeepCTR-Torch 0.3.0's ``DeepFM.predict`` on already-encoded arrays of every row of
the same file (its documented recipe, `benchmarks/baselines/deepctr.py --score-only`; encoding
not counted) gives the rows/s to compare, at its
recipe's shape (dense fields as values: a smaller first DNN layer than ours) and at ours
(``--dense-as-sparse``: the 13 dense fields bucketized and embedded, as our Criteo config does).
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
    line = r["stdout"].split("scored ")[1]
    rows = int(line.split(" rows")[0].replace(",", ""))
    scoring_s = float(line.split(" in ")[1].split("s ->")[0])  # read, validate, encode, model, write
    return {"run": f"recsys score, {rows:,} raw rows", "rows_per_s": rows / r["seconds"],
            "rows_per_s_after_start": rows / scoring_s, "peak_rss_mb": r["peak_rss_mb"], "wall_s": r["seconds"]}


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
        for flags, shape in (((), "its recipe: 26 fields + 13 dense values"),
                             (("--dense-as-sparse",), "our shape: 39 embedded fields")):
            base = baseline(raw, "deepfm", "--score-only", *flags)
            if base:
                results.append({"run": f"DeepCTR-Torch DeepFM.predict, {base['scored_rows']:,} encoded rows, {shape}",
                                "rows_per_s": base["scoring_rows_per_s"], "peak_rss_mb": base["peak_rss_mb"]})
                ours = results[1]
                print(f"recsys score / DeepCTR-Torch predict ({shape}): {ours['rows_per_s'] / base['scoring_rows_per_s']:.2f}x "
                      f"whole command, {ours['rows_per_s_after_start'] / base['scoring_rows_per_s']:.2f}x after start-up "
                      f"(imports and bundle load; its figure counts predict only)")
    print_table(results, ["run", "rows_per_s", "rows_per_s_after_start", "peak_rss_mb", "wall_s"])


if __name__ == "__main__":
    main()
