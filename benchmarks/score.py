"""Batch scoring end to end: ``recsys score`` on raw synthetic Criteo rows -> probabilities.

    .venv/bin/python benchmarks/score.py [--rows 1000000] [--baseline] [--mkl] [--repeat N]
        [--rss-rows 200000 2000000]

A DeepFM bundle (one epoch on the same rows) scores the raw file: read, validate, encode,
model, Parquet out, all counted. The same bundle also scores files of ``--rss-rows`` rows (default
a fifth of ``--rows``) to show peak RSS flat in rows. With
``--baseline``, DeepCTR-Torch 0.3.0's ``DeepFM.predict`` on already-encoded arrays of every row of
the same file (its documented recipe, `benchmarks/baselines/deepctr.py --score-only`; encoding
not counted) gives the rows/s to compare, at its
recipe's shape (dense fields as values: a smaller first DNN layer than ours) and at ours
(``--dense-as-sparse``: the 13 dense fields bucketized and embedded, as our Criteo config does).
``--repeat N`` alternates the 1M-row runs N times and shows medians with their range;
``--mkl`` adds ``recsys score`` with its dense layers on MKL (``RECSYS_ONEDNN=0``) to each round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table, recsys_cmd, run_measured, synth  # noqa: E402
from benchmarks.serve import bundle  # noqa: E402
from benchmarks.train import baseline  # noqa: E402


def score(target: Path, raw: Path, out: Path, mkl: bool = False) -> dict:
    r = run_measured(recsys_cmd("score", str(target), str(raw), "--format", "criteo", "--out", str(out)),
                     env={"RECSYS_ONEDNN": "0"} if mkl else None)
    line = r["stdout"].split("scored ")[1]
    rows = int(line.split(" rows")[0].replace(",", ""))
    scoring_s = float(line.split(" in ")[1].split("s ->")[0])  # read, validate, encode, model, write
    return {"run": f"recsys score, {rows:,} raw rows" + (", MKL dense layers (RECSYS_ONEDNN=0)" if mkl else ""),
            "rows_per_s": rows / r["seconds"], "rows_per_s_after_start": rows / scoring_s,
            "peak_rss_mb": r["peak_rss_mb"], "wall_s": r["seconds"]}


def peer(raw: Path, flags: tuple[str, ...], shape: str) -> dict | None:
    base = baseline(raw, "deepfm", "--score-only", *flags)
    if not base:
        return None
    return {"run": f"DeepCTR-Torch DeepFM.predict, {base['scored_rows']:,} encoded rows, {shape}",
            "rows_per_s": base["scoring_rows_per_s"], "peak_rss_mb": base["peak_rss_mb"]}


PEER_SHAPES = (((), "its recipe: 26 fields + 13 dense values"), (("--dense-as-sparse",), "our shape: 39 embedded fields"))


def medians(runs: list[dict]) -> dict:
    """The median run of repeated ones (rows/s median, its range in ``range``)."""
    rates = sorted(r["rows_per_s"] for r in runs)
    mid = min(runs, key=lambda r: abs(r["rows_per_s"] - statistics.median(rates)))
    return {**mid, "range": f"{rates[0]:,.0f}-{rates[-1]:,.0f}" if len(runs) > 1 else ""}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--out", type=Path, default=Path("bench_out/train"))
    p.add_argument("--baseline", action="store_true")
    p.add_argument("--mkl", action="store_true", help="also score with MKL dense layers (RECSYS_ONEDNN=0)")
    p.add_argument("--repeat", type=int, default=1, help="rounds of the 1M-row runs, alternating; medians shown")
    p.add_argument("--rss-rows", type=int, nargs="+", help="other file sizes the bundle scores once (peak RSS)")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    target = bundle(a.out, a.rows)
    raw = a.out / f"criteo_{a.rows}.tsv"
    results = []
    for rows in a.rss_rows or [a.rows // 5]:
        synth(other := a.out / f"criteo_{rows}.tsv", rows)
        results.append(score(target, other, a.out / "scores_other.parquet"))
    rounds: dict[str, list[dict]] = {}
    for _ in range(a.repeat):  # ours and the peer alternate, so the machine's drift hits both
        runs = [score(target, raw, a.out / "scores.parquet")]
        runs += [score(target, raw, a.out / "scores.parquet", mkl=True)] if a.mkl else []
        runs += [r for flags, shape in PEER_SHAPES if a.baseline and (r := peer(raw, flags, shape))]
        for r in runs:
            rounds.setdefault(r["run"], []).append(r)
    summary = [medians(runs) for runs in rounds.values()]
    results, ours = results + summary, summary[0]
    for r in summary:
        if r["run"].startswith("DeepCTR"):
            print(f"recsys score / {r['run']}: {ours['rows_per_s'] / r['rows_per_s']:.2f}x whole command, "
                  f"{ours['rows_per_s_after_start'] / r['rows_per_s']:.2f}x after start-up "
                  f"(imports and bundle load; its figure counts predict only)")
    print_table(results, ["run", "rows_per_s", "range", "rows_per_s_after_start", "peak_rss_mb", "wall_s"])


if __name__ == "__main__":
    main()
