"""``recsys rank DATA_DIR|RAW... --out REPORT_DIR [--format F] [--sample N] [--top-k K]``."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from recsys.data.prepare import prepare_dataset
from recsys.errors import ConfigError
from recsys.features.spec import load_dataset_config
from recsys.files import check_output_dir
from recsys.ranking.rank import RankResult, rank_dataset


def main(argv: Sequence[str]) -> RankResult:
    p = argparse.ArgumentParser(prog="recsys rank", description="OutRank-style feature ranking report.")
    p.add_argument("inputs", nargs="+", type=Path, help="a prepared DATA_DIR, or raw files with --format")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--format", choices=["criteo", "avazu", "parquet"], help="raw input: prepare on the fly")
    p.add_argument("--split", default="train", choices=["train", "val", "test"])
    p.add_argument("--sample", type=int, help="rank on at most this many rows")
    p.add_argument("--top-k", type=int, help="also write top_features.txt (for `recsys train --features`)")
    p.add_argument("--alpha", type=float, default=1.0, help="3MR weight of redundancy")
    p.add_argument("--beta", type=float, default=1.0, help="3MR weight of relations")
    p.add_argument("--no-pairs", action="store_true", help="skip redundancy/relations (singles only)")
    p.add_argument("--score", default="centred", choices=["centred", "reference", "outrank"],
                   help="centred (default, least noisy), reference (paper form), outrank (bit-for-bit outrank 0.97.5)")
    p.add_argument("--overwrite", action="store_true", help="replace another recsys verb's output at --out")
    a = p.parse_args(argv)
    check_output_dir(a.out, "rank", a.overwrite)
    opts = dict(split=a.split, sample=a.sample, top_k=a.top_k, alpha=a.alpha, beta=a.beta, pairs=not a.no_pairs,
                score=a.score)
    if a.format is None:
        if len(a.inputs) != 1 or not a.inputs[0].is_dir():
            raise ConfigError("rank: give one prepared DATA_DIR, or raw files with --format")
        result = rank_dataset(a.inputs[0], a.out, **opts)  # type: ignore[arg-type]
    else:
        tmp = Path(tempfile.mkdtemp(prefix="recsys-rank-"))
        try:
            prepare_dataset(a.inputs, load_dataset_config("criteo" if a.format == "parquet" else a.format),
                            tmp / "data", a.format)
            result = rank_dataset(tmp / "data", a.out, **opts)  # type: ignore[arg-type]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    top = ", ".join(result.singles["Feature"].head(5).to_list())
    print(f"ranked {len(result.singles)} fields on {result.rows:,} rows in {result.seconds:.1f}s -> {a.out} (top: {top})")
    return result
