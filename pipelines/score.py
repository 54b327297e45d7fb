"""``recsys score BUNDLE_DIR INPUT... --format criteo|avazu|parquet --out SCORES.parquet``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from recsys.scoring.predictor import Predictor, ScoreResult


def main(argv: Sequence[str]) -> ScoreResult:
    p = argparse.ArgumentParser(prog="recsys score", description="Batch-score raw rows with an exported bundle.")
    p.add_argument("bundle", type=Path)
    p.add_argument("inputs", nargs="+", type=Path)
    p.add_argument("--format", required=True, choices=["criteo", "avazu", "parquet"])
    p.add_argument("--out", required=True, type=Path)
    a = p.parse_args(argv)
    result = Predictor.load(a.bundle).score_files(a.inputs, a.format, a.out)
    print(f"scored {result.rows:,} rows ({result.rejected} rejected, null score) in {result.seconds:.1f}s -> {a.out}")
    return result
