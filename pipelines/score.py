"""``recsys score BUNDLE_DIR INPUT... --format criteo|avazu|parquet --out SCORES.parquet``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from recsys.data.raw import require_files
from recsys.files import check_output_file
from recsys.scoring.blocks import BundleFeatures
from recsys.threads import prefetched

if TYPE_CHECKING:
    from recsys.scoring.predictor import ScoreResult


BLOCKS_AHEAD = 8
"""Encoded blocks (~110k Criteo rows, 28 MB of text each) that may wait for the model."""


def is_scores_file(path: Path) -> bool:
    """An earlier ``recsys score`` output: Parquet with exactly the columns ``row`` and ``score``."""
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).names == ["row", "score"]
    except Exception:  # noqa: BLE001 (not Parquet at all: not ours)
        return False


def score_here(bundle: Path, inputs: list[Path], fmt: str, out: Path) -> "ScoreResult":
    """Score in this process. The bundle's features are read first (torch-free) and the first
    blocks are encoded in a background thread while torch is imported and the model built
    (2-3 s of imports otherwise spent before the first row is read). The thread may run
    :data:`BLOCKS_AHEAD` blocks ahead: the imports hold one core for seconds, in which the other
    core encodes most of a 1M-row file; blocks then wait ~20 MB each (``benchmarks/score.py``)."""
    read = BundleFeatures.read(bundle)  # a bad bundle: one line, before any work starts
    blocks = prefetched(read.blocks(inputs, fmt), BLOCKS_AHEAD)
    try:
        from recsys.scoring.predictor import Predictor

        predictor = Predictor.load(bundle, read)
    except BaseException:
        blocks.close()
        raise
    return predictor.score_files(inputs, fmt, out, blocks)


def main(argv: Sequence[str]) -> ScoreResult:
    p = argparse.ArgumentParser(prog="recsys score", description="Batch-score raw rows with an exported bundle.")
    p.add_argument("bundle", type=Path)
    p.add_argument("inputs", nargs="+", type=Path)
    p.add_argument("--format", required=True, choices=["criteo", "avazu", "parquet"])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--workers", type=int, help="score files on N Ray Data actors (default: in this process)")
    p.add_argument("--address", help="Ray cluster address (with --workers)")
    a = p.parse_args(argv)
    check_output_file(a.out, "score", is_scores_file)
    require_files(a.inputs)
    if a.workers is not None or a.address:
        from recsys.distributed.ray_score import score_with_ray

        result = score_with_ray(a.bundle, a.inputs, a.format, a.out, a.workers or 1, a.address)
    else:
        result = score_here(a.bundle, a.inputs, a.format, a.out)
    print(f"scored {result.rows:,} rows ({result.rejected} rejected, null score) in {result.seconds:.1f}s -> {a.out}")
    return result
