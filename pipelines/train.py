"""``recsys train DATA_DIR --model NAME --out RUN_DIR [options]`` and ``recsys evaluate``."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

from recsys.config import parse_set_args
from recsys.errors import ConfigError
from recsys.files import check_output_dir, output_verb
from recsys.training.runconfig import read_feature_list, resolve, with_candidates


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recsys train", description="Train a model on a prepared DATA_DIR.")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", type=Path, help="YAML overriding configs/models/NAME.yaml")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--embedding", choices=["vocab", "hashed", "unified"])
    p.add_argument("--embedding-budget", help="total table size: 2.5MB, 300KiB or 1e6rows")
    p.add_argument("--workers", type=int, help="train on N Ray Train workers (default: in this process)")
    p.add_argument("--address", help="Ray cluster address (with --workers)")
    p.add_argument("--storage", help="with --workers: where Ray keeps checkpoints (a path or pyarrow URI such as "
                                     "s3://bucket/runs; default RUN_DIR/ray)")
    p.add_argument("--max-failures", type=int, default=2,
                   help="with --workers: restarts of the worker group from the latest checkpoint after a failure")
    p.add_argument("--features", type=Path, help="train on the fields listed in FILE (e.g. recsys rank --top-k)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted RUN_DIR from its last epoch")
    p.add_argument("--candidates", type=Path,
                   help="optinter: search only the top pairs (optinter_candidates_top_k) of a recsys rank report "
                        "(relations.tsv or pairwise_ranks.tsv)")
    p.add_argument("--optfs", action="store_true",
                   help="OptFS: search per-value feature gates, rewind, retrain on the pruned tables (optfs_* keys)")
    p.add_argument("--overwrite", action="store_true", help="replace another recsys verb's output at --out")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    return p


def overrides(a: argparse.Namespace) -> dict[str, Any]:
    out = parse_set_args(a.sets)
    flags = {"epochs": a.epochs, "batch_size": a.batch_size, "seed": a.seed, "embedding": a.embedding,
             "embedding_budget": a.embedding_budget, "optfs": True if a.optfs else None}
    out.update({k: v for k, v in flags.items() if v is not None})
    return out


def main(argv: Sequence[str]) -> dict[str, Any]:
    a = parser().parse_args(argv)
    check_output_dir(a.out, "train", a.overwrite)
    if output_verb(a.out) not in (None, "train"):  # another verb's output, --overwrite given
        shutil.rmtree(a.out)
    cfg = resolve(a.model, a.config, overrides(a), read_feature_list(a.features) if a.features else None)
    if a.candidates:
        cfg = with_candidates(cfg, a.candidates)
    import torchrec.distributed.planner  # noqa: F401  (its loggers exist from here on)

    from pipelines.cli import quiet_libraries

    quiet_libraries()
    ray_record = a.out / "ray_run.json"
    if a.resume and a.workers is None and not a.address and ray_record.is_file():
        workers = json.loads(ray_record.read_text())["workers"]
        raise ConfigError(f"{a.out}: was trained by {workers} Ray workers; resume it with --workers {workers}")
    if a.workers is not None or a.address:
        from recsys.distributed.ray_train import train_with_ray

        metrics = train_with_ray(a.data_dir, a.out, cfg, a.workers or 1, a.address, a.storage, a.resume, a.max_failures)
        print((a.out / "sharding_plan.txt").read_text())
    else:
        from recsys.training.job import run_training

        metrics = run_training(a.data_dir, a.out, cfg, resume=a.resume, progress=not a.no_progress)
    print(format_metrics(metrics))
    return metrics


def format_metrics(m: dict[str, Any]) -> str:
    line = (f"{m['model']}: val AUC {m['val']['auc']:.4f} logloss {m['val']['logloss']:.4f} | "
            f"test AUC {m['test']['auc']:.4f} logloss {m['test']['logloss']:.4f} | "
            f"{m['train_samples_per_s']:,.0f} samples/s")
    if "optfs" in m:
        o = m["optfs"]
        line += (f"\nOptFS: kept {o['kept_rows']:,} of {o['total_rows']:,} rows "
                 f"({o['kept_rows'] / max(o['total_rows'], 1):.1%}), embedding bytes "
                 f"{m['embedding_bytes_unpruned']:,} -> {m['embedding_bytes']:,}; search "
                 f"{o['search_epochs']} epochs at {o['search_samples_per_s']:,.0f} samples/s; "
                 f"per-field report in optfs/fields.tsv")
    if "optinter" in m:
        o = m["optinter"]
        line += (f"\nOptInter: of {o['pairs']} pairs memorize {o['memorize']}, factorize {o['factorize']}, "
                 f"naive {o['naive']}; params {m['params']:,} (all-memorize {o['all_memorize']['params']:,}, "
                 f"all-factorize {o['all_factorize']['params']:,}); search {o['search_samples_per_s']:,.0f} "
                 f"samples/s; per-pair report in optinter/methods.tsv")
    return line


def evaluate_main(argv: Sequence[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="recsys evaluate", description="Exact metrics of a trained run on a split.")
    p.add_argument("run_dir", type=Path)
    p.add_argument("data_dir", type=Path)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    a = p.parse_args(argv)
    from recsys.training.evaluate import evaluate_run

    result = evaluate_run(a.run_dir, a.data_dir, a.split)
    print(json.dumps(result))
    return result
