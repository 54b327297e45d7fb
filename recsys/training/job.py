"""A whole training run: DATA_DIR + RunConfig -> RUN_DIR with metrics, history and weights.

The same function runs in a single process and in every Ray Train worker: it reads
rank/world from :mod:`recsys.training.env` only.

    RUN_DIR/
      config.json      resolved RunConfig + data_dir + features hash
      history.jsonl    one line per epoch
      checkpoints/     per-epoch tensors (per rank) + state.json
      model.pt         final (best-epoch) full weights, tensors only
      metrics.json     written last: a run without it is incomplete
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from recsys.data.dataset_dir import DatasetInfo, open_dataset
from recsys.data.loader import BatchLoader
from recsys.embeddings.schema import FeatureSchema
from recsys.files import write_json_atomic
from recsys.memory import tune_allocator
from recsys.models.registry import build_model
from recsys.training import checkpoint as ckpt
from recsys.training.env import init_distributed, set_threads
from recsys.training.loop import EvalResult, Trainer
from recsys.training.parallel import build_optimizer, embedding_parameters, shard
from recsys.training.runconfig import RunConfig


def embedding_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in embedding_parameters(model))


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def loaders(info: DatasetInfo, schema: FeatureSchema, cfg: RunConfig, rank: int, world: int) -> dict[str, BatchLoader]:
    common = dict(dense=list(schema.dense), categorical=list(schema.categorical), rank=rank, world_size=world)
    t = cfg.train
    return {
        "train": BatchLoader(info.split_files("train"), batch_size=t.batch_size, shuffle=True, seed=t.seed,
                             drop_last=world > 1, **common),  # type: ignore[arg-type]
        "val": BatchLoader(info.split_files("val"), batch_size=t.eval_batch_size, **common),  # type: ignore[arg-type]
        "test": BatchLoader(info.split_files("test"), batch_size=t.eval_batch_size, **common),  # type: ignore[arg-type]
    }


def _metric_block(r: EvalResult) -> dict[str, float]:
    return {"auc": r.auc, "logloss": r.logloss, "rows": r.rows}


def run_training(data_dir: Path, run_dir: Path, cfg: RunConfig, resume: bool = False,
                 progress: bool = True) -> dict[str, Any]:
    """Train, evaluate val/test, save weights; return the metrics written to metrics.json."""
    info = open_dataset(data_dir)
    tune_allocator()
    env = init_distributed()
    set_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").unlink(missing_ok=True)
    schema = FeatureSchema.from_manifest(info.manifest, cfg.features)
    model = build_model(cfg.model, cfg.model_cfg, cfg.embedding, schema)
    n_params, emb_bytes = trainable_params(model), embedding_bytes(model)
    dmp = shard(model, cfg.train, env)
    trainer = Trainer(dmp, build_optimizer(dmp, cfg.train), cfg.train, env, run_dir, progress=progress)
    if env.is_main:
        write_json_atomic(run_dir / "config.json", {**cfg.to_json(), "data_dir": str(data_dir),
                                              "features_hash": info.manifest["features_hash"]})
    data = loaders(info, schema, cfg, env.rank, env.world_size)
    start_epoch, history = _resume(trainer) if resume else (0, [])
    fit = trainer.fit(data["train"], data["val"], start_epoch, history)
    val = fit.val or trainer.evaluate(data["val"])
    test = trainer.evaluate(data["test"])
    weights = ckpt.full_state_dict(dmp)
    metrics = {
        "model": cfg.model, "val": _metric_block(val), "test": _metric_block(test), "params": n_params,
        "embedding_bytes": emb_bytes, "embedding": cfg.embedding.strategy,
        "train_samples_per_s": fit.train_samples_per_s, "scoring_rows_per_s": test.rows_per_s * env.world_size,
        "epochs": fit.epochs_run, "best_epoch": fit.best_epoch + 1, "world_size": env.world_size,
        "precision": trainer.precision,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if env.is_main:
        ckpt.save(run_dir / "model.pt", weights)
        write_json_atomic(run_dir / "metrics.json", metrics)
    if dist.is_initialized():
        dist.barrier()
    return metrics


def _resume(trainer: Trainer) -> tuple[int, list[dict[str, float]]]:
    state = trainer.resume_state()
    if state is None:
        return 0, []
    trainer.load_checkpoint(int(state["epoch"]))
    trainer.early.load(state["early"])
    for g, lr in zip(trainer.optimizer.param_groups, state["lrs"]):
        g["lr"] = lr
    return int(state["epoch"]), list(state["history"])
