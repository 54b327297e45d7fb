"""A whole training run: DATA_DIR + RunConfig -> RUN_DIR with metrics, history and weights.

The same function runs in a single process and in every Ray Train worker: it reads
rank/world from :mod:`recsys.training.env` only.

    RUN_DIR/
      config.json      resolved RunConfig + data_dir + features hash
      history.jsonl    one line per epoch
      checkpoints/     per-epoch tensors (per rank) + state.json
      sharding_plan.txt  TorchRec's plan: how each table is sharded over the ranks
      model.pt         final (best-epoch) full weights, tensors only
      optfs/           with ``optfs: true``: the gate search's history and the report
      optinter/        OptInter: the method search's history, methods.tsv and the heatmap
      predictions/     test.parquet: every test row's label and score (studies compare runs on them)
      metrics.json     written last: a run without it is incomplete

With OptFS the run searches gates first (:mod:`recsys.training.stages`), then trains the
pruned model from the search's rewind point; OptInter searches each pair's method first
(:mod:`recsys.training.optinter`), then trains the chosen model from scratch: the same
trainer, the same files.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from recsys.data.dataset_dir import DatasetInfo, open_dataset
from recsys.data.loader import BatchLoader
from recsys.embeddings.prune import field_embeddings, prune_model, prune_state, pruned_sizes
from recsys.embeddings.schema import FeatureSchema
from recsys.errors import ConfigError
from recsys.files import write_json_atomic, write_text_atomic
from recsys.memory import tune_allocator
from recsys.models.registry import build_model
from recsys.training import checkpoint as ckpt
from recsys.training.env import DistEnv, init_distributed, set_threads
from recsys.training.callbacks import Callback
from recsys.training.loop import EvalResult, Trainer
from recsys.training.predictions import predict_unsharded, write_predictions
from recsys.training.optfs_report import field_table, row_traffic, search_table, write_report
from recsys.training.parallel import build_optimizer, embedding_parameters, shard
from recsys.training.runconfig import RunConfig
from recsys.training.optinter import SearchOutcome, counts, model_sizes, retrain_config, run_optinter_search
from recsys.training.optinter import write_report as write_optinter_report
from recsys.training.stages import SearchResult, run_search


def embedding_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in embedding_parameters(model))


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def loaders(info: DatasetInfo, schema: FeatureSchema, cfg: RunConfig, rank: int, world: int) -> dict[str, BatchLoader]:
    """The splits' loaders for this rank. ``batch_size`` is the global batch (FuxiCTR's meaning):
    each of ``world`` ranks reads ``batch_size // world`` rows per step, so a run on several
    workers takes the same steps on the same amount of data as one process. Dense gradients
    are averaged over ranks; embedding gradients are summed (TorchRec), which row-wise Adagrad's
    normalization absorbs."""
    common = dict(dense=list(schema.dense), categorical=list(schema.categorical), rank=rank, world_size=world)
    t = cfg.train
    return {
        "train": BatchLoader(info.split_files("train"), batch_size=max(1, t.batch_size // world), shuffle=True,
                             seed=t.seed,
                             drop_last=world > 1, **common),  # type: ignore[arg-type]
        "val": BatchLoader(info.split_files("val"), batch_size=t.eval_batch_size, **common),  # type: ignore[arg-type]
        "test": BatchLoader(info.split_files("test"), batch_size=t.eval_batch_size, **common),  # type: ignore[arg-type]
    }


def _metric_block(r: EvalResult) -> dict[str, float]:
    return {"auc": r.auc, "logloss": r.logloss, "rows": r.rows}


def run_training(data_dir: Path, run_dir: Path, cfg: RunConfig, resume: bool = False,
                 progress: bool = True, callbacks: Optional[list[Callback]] = None) -> dict[str, Any]:
    """Train, evaluate val/test, save weights; return the metrics written to metrics.json.

    ``callbacks`` watch the final training's epochs (a study's trial reports each epoch to Ray Tune)."""
    info = open_dataset(data_dir)
    tune_allocator()
    env = init_distributed()
    set_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    if resume and (cfg.optfs.optfs or _searches_interactions(cfg)):
        raise ConfigError("--resume is not supported for runs that search (--optfs, optinter): run them again")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").unlink(missing_ok=True)
    schema = FeatureSchema.from_manifest(info.manifest, cfg.features)
    data = loaders(info, schema, cfg, env.rank, env.world_size)
    staged = _search_stages(cfg, schema, env, run_dir, data, progress)
    cfg, model, extra = staged.cfg, staged.model, dict(staged.extra)
    n_params, emb_bytes = trainable_params(model), embedding_bytes(model)
    dmp = shard(model, cfg.train, env)
    _record_plan(run_dir, dmp, env, progress)
    if staged.initial is not None:
        ckpt.load_full_state(dmp, staged.initial, "the OptFS rewind point")
    trainer = Trainer(dmp, build_optimizer(dmp, cfg.train), cfg.train, env, run_dir, progress=progress,
                      callbacks=callbacks)
    pruned = extra.pop("pruned_tables", None)
    if env.is_main:
        write_json_atomic(run_dir / "config.json", {**cfg.to_json(), "data_dir": str(data_dir),
                                                    "features_hash": info.manifest["features_hash"],
                                                    "pruned_tables": pruned})
    start_epoch, history = _resume(trainer) if resume else (0, [])
    fit = trainer.fit(data["train"], data["val"], start_epoch, history)
    val = fit.val or trainer.evaluate(data["val"])
    test = trainer.evaluate(data["test"], keep_scores=env.world_size == 1)
    weights = ckpt.full_state_dict(dmp)
    if env.is_main:
        _write_test_predictions(run_dir, test, cfg, schema, weights, info, pruned)
    metrics = {
        "model": cfg.model, "val": _metric_block(val), "test": _metric_block(test), "params": n_params,
        "embedding_bytes": emb_bytes, "embedding": cfg.embedding.embedding,
        "embedding_budget": cfg.embedding.embedding_budget,
        "train_samples_per_s": fit.train_samples_per_s, "scoring_rows_per_s": test.rows_per_s * env.world_size,
        "epochs": fit.epochs_run, "best_epoch": fit.best_epoch + 1, "world_size": env.world_size,
        "precision": trainer.precision, **extra,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if staged.interactions is not None and env.is_main:
        write_optinter_report(run_dir / "optinter", staged.interactions, schema.categorical)
    if staged.search is not None:
        _write_optfs_report(run_dir / "optfs", model, staged.search, data["train"], env.is_main,
                            cfg.embedding.embedding)
    if env.is_main:
        ckpt.save(run_dir / "model.pt", weights)
        write_json_atomic(run_dir / "metrics.json", metrics)
    if dist.is_initialized():
        dist.barrier()
    return metrics


def _record_plan(run_dir: Path, dmp: nn.Module, env: DistEnv, show: bool) -> None:
    """``RUN_DIR/sharding_plan.txt``: TorchRec's plan, per table (printed too, on several ranks)."""
    if not env.is_main:
        return
    text = f"world size {env.world_size}, device {env.device.type}\n{getattr(dmp, 'plan', '')}\n"
    write_text_atomic(run_dir / "sharding_plan.txt", text)
    if show and env.world_size > 1:
        print(text, flush=True)


def _write_test_predictions(run_dir: Path, test: EvalResult, cfg: RunConfig, schema: FeatureSchema,
                            weights: dict[str, torch.Tensor], info: DatasetInfo, pruned: Optional[dict]) -> None:
    """``predictions/test.parquet`` in split order: this process's scores when it saw every test
    row in order; under several ranks, rank 0 scores the split again from the full weights."""
    if test.scores is None or test.labels is None:
        loader = BatchLoader(info.split_files("test"), list(schema.dense), list(schema.categorical),
                             cfg.train.eval_batch_size)
        labels, scores = predict_unsharded(cfg, schema, weights, loader, pruned)
    else:
        scores, labels = test.scores, test.labels
    write_predictions(run_dir, labels, scores)


def _optfs_metrics(unpruned: nn.Module, search: SearchResult) -> dict[str, Any]:
    """Sizes before pruning and the gates' verdict, for metrics.json."""
    kept = sum(int(k.sum()) for k in search.keep.values())
    total = sum(int(k.numel()) for k in search.keep.values())
    rates = [r["train_samples_per_s"] for r in search.history]
    return {"embedding_bytes_unpruned": embedding_bytes(unpruned),
            "optfs": {"kept_rows": kept, "total_rows": total, "search_epochs": len(search.history),
                      "search_samples_per_s": sum(rates) / max(len(rates), 1)}}


@dataclass
class _Staged:
    """What the search stages leave for the final training: its config and (unsharded) model,
    the weights to start from, metrics to add, and the searches for the reports."""

    cfg: RunConfig
    model: nn.Module
    initial: Optional[dict[str, torch.Tensor]] = None
    extra: dict[str, Any] = field(default_factory=dict)
    interactions: Optional[SearchOutcome] = None
    search: Optional[SearchResult] = None


def _searches_interactions(cfg: RunConfig) -> bool:
    return cfg.model == "optinter" and cfg.model_cfg.optinter_mode == "search"


def _search_stages(cfg: RunConfig, schema: FeatureSchema, env: DistEnv, run_dir: Path,
                   data: dict[str, BatchLoader], progress: bool) -> _Staged:
    """OptInter's method search (then its chosen model) and OptFS's gate search (then the pruned
    model at the rewind point); a plain run just builds its model."""
    staged = _Staged(cfg, build_model(cfg.model, cfg.model_cfg, cfg.embedding, schema))
    if _searches_interactions(cfg):
        staged.interactions = run_optinter_search(cfg, schema, env, run_dir / "optinter" / "search", data, progress)
        staged.extra["optinter"] = _optinter_metrics(cfg, schema, staged.interactions)
        staged.cfg = cfg = retrain_config(cfg, staged.interactions)
        staged.model = build_model(cfg.model, cfg.model_cfg, cfg.embedding, schema)
    if cfg.optfs.optfs:
        staged.search = run_search(build_model(cfg.model, cfg.model_cfg, cfg.embedding, schema), cfg.train,
                                   cfg.optfs, env, run_dir / "optfs" / "search", data, progress)
        staged.extra.update(_optfs_metrics(staged.model, staged.search))
        staged.initial = prune_state(staged.search.snapshot, staged.model,
                                     prune_model(staged.model, staged.search.keep))
        staged.extra["pruned_tables"] = pruned_sizes(staged.model)
    return staged


def _optinter_metrics(cfg: RunConfig, schema: FeatureSchema, outcome: SearchOutcome) -> dict[str, Any]:
    """Chosen methods and the sizes of the all-memorize and all-factorize baselines."""
    return {**counts(outcome.methods), "pairs": len(outcome.pairs), "search_samples_per_s": outcome.samples_per_s,
            "search_epochs": len(outcome.history), "all_memorize": model_sizes(cfg, schema, "memorize"),
            "all_factorize": model_sizes(cfg, schema, "factorize")}


def _write_optfs_report(out: Path, pruned: nn.Module, search: SearchResult, train: BatchLoader, main: bool,
                        strategy: str) -> None:
    """``RUN_DIR/optfs/``: per-field verdict of the main field embedding (LR: its weight table), the
    search curve, a chart."""
    plans = sorted((fe.plan for _, _, fe in field_embeddings(pruned)), key=lambda p: p.prefix != "")
    plan = plans[0]
    unpruned_plan = dataclasses.replace(plan, tables=tuple(
        dataclasses.replace(t, num_embeddings=len(search.keep[t.name])) for t in plan.tables))
    traffic = row_traffic(unpruned_plan, train)
    if main:
        write_report(out, field_table(unpruned_plan, search.keep, traffic), search_table(search.history), strategy)


def _resume(trainer: Trainer) -> tuple[int, list[dict[str, float]]]:
    state = trainer.resume_state()
    if state is None:
        return 0, []
    saved_world = int(state.get("world_size", 1))
    if saved_world != trainer.env.world_size:
        raise ConfigError(f"{trainer.run_dir}: its checkpoint was written by {saved_world} worker(s) and is sharded "
                          f"that way; resume it with --workers {saved_world} (this run has {trainer.env.world_size})")
    trainer.load_checkpoint(int(state["epoch"]))
    trainer.early.load(state["early"])
    for g, lr in zip(trainer.optimizer.param_groups, state["lrs"]):
        g["lr"] = lr
    return int(state["epoch"]), list(state["history"])
