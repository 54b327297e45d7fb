"""``recsys prepare INPUT... --format criteo|avazu|parquet --out DATA_DIR [options]``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Sequence

from recsys.data.prepare import PrepareResult, prepare_dataset
from recsys.features.spec import DatasetConfig, SplitConfig, load_dataset_config
from recsys.files import check_output_dir


def build_config(args: argparse.Namespace) -> DatasetConfig:
    """The dataset config of ``--config`` (or of the format), with CLI overrides applied."""
    cfg = load_dataset_config(args.config or ("criteo" if args.format == "parquet" else args.format))
    changes: dict = {}
    if args.min_count is not None:
        changes["min_count"] = args.min_count
    if args.encoding is not None:
        changes["encoding"] = args.encoding
    if args.short_rows is not None:
        changes["short_rows"] = args.short_rows
    if args.dense_transform is not None:
        changes["dense_transform"] = args.dense_transform
    split = cfg.split
    if args.split is not None or args.seed is not None:
        split = SplitConfig(args.split or split.method, split.ratios,
                            args.seed if args.seed is not None else split.seed)
    return dataclasses.replace(cfg, split=split, **changes)


def main(argv: Sequence[str]) -> PrepareResult:
    p = argparse.ArgumentParser(prog="recsys prepare", description="Raw logs -> prepared DATA_DIR.")
    p.add_argument("inputs", nargs="+", type=Path)
    p.add_argument("--format", required=True, choices=["criteo", "avazu", "parquet"])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", help="dataset config name or YAML path (default: the format's)")
    p.add_argument("--min-count", type=int)
    p.add_argument("--split", choices=["random", "sequential", "by_file", "criteo_x4", "avazu_x4"])
    p.add_argument("--seed", type=int)
    p.add_argument("--encoding", choices=["vocab", "hash"])
    p.add_argument("--short-rows", choices=["reject", "pad"])
    p.add_argument("--dense-transform", choices=["log", "bucket", "none"],
                   help="dense fields: log(x+1) floats (DLRM), floor(ln(x)^2) categoricals (FuxiCTR) or raw")
    p.add_argument("--strict", action="store_true", help="stop at the first bad row")
    p.add_argument("--overwrite", action="store_true", help="replace another recsys verb's output at --out")
    p.add_argument("--workers", type=int, help="prepare on N Ray tasks at a time (default: in this process)")
    p.add_argument("--address", help="Ray cluster address (with --workers; --out on storage every node sees)")
    a = p.parse_args(argv)
    check_output_dir(a.out, "prepare", a.overwrite)
    if a.workers is not None or a.address:
        from recsys.distributed.ray_prepare import prepare_with_ray

        result = prepare_with_ray(a.inputs, build_config(a), a.out, a.format, a.strict, a.workers or 1, a.address)
    else:
        result = prepare_dataset(a.inputs, build_config(a), a.out, a.format, a.strict)
    s = result.splits
    print(f"prepared {result.input_rows:,} rows in {result.seconds:.1f}s -> {a.out}: "
          f"train {s['train']:,}, val {s['val']:,}, test {s['test']:,}, rejected {result.rejected_rows:,}")
    return result
