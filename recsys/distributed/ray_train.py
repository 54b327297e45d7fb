"""Ray Train: every worker runs the single-process training job unchanged, and survives.

Ray Train's ``TorchTrainer`` creates the process group (gloo on CPU, nccl on GPU) and sets
RANK/WORLD_SIZE; :func:`recsys.training.env.init_distributed` joins it, the planner shards
the tables over the workers (``RUN_DIR/sharding_plan.txt``) and the loader deals row groups.

Nothing assumes a disk shared by the driver and the workers (DATA_DIR aside, which every
worker reads at the same path):

- each worker writes its RUN_DIR in a local scratch directory;
- after every epoch each rank hands its checkpoint files (that epoch's, and the best epoch's,
  which the end of training restores) to ``ray.train.report``; Ray merges them in storage
  (``--storage``: a local path or any pyarrow filesystem URI; default ``RUN_DIR/ray``);
- when a worker dies, Ray restarts the group (``FailureConfig(max_failures)``) and every
  rank resumes from the latest checkpoint (``ray.train.get_checkpoint``);
- at the end rank 0 reports the run's files (weights, metrics, history, predictions,
  reports) as the final checkpoint, and the driver builds RUN_DIR from it and from the
  metrics in the Ray ``Result``.

``RUN_DIR/ray_run.json`` names the Ray run (storage, name, workers) so ``--resume`` continues
it; Ray Train restores a run of the same name and storage from its latest checkpoint.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from recsys.distributed.cluster import cpus_per_worker, ray_session
from recsys.errors import ConfigError, TrainingError
from recsys.files import write_file_atomic, write_json_atomic
from recsys.training.callbacks import Callback
from recsys.training.runconfig import RunConfig

RECORD = "ray_run.json"
FINAL = "final"


def _checkpoint_name(epoch: int) -> str:
    return f"epoch-{epoch + 1:04d}"


class RayCheckpoints(Callback):
    """Reports each epoch's metrics and this rank's checkpoint files to Ray Train."""

    def __init__(self) -> None:
        self.record: dict[str, float] = {}

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        self.record = dict(metrics)

    def on_checkpoint(self, trainer: Any, epoch: int, files: list[Path]) -> None:
        import ray.train

        from recsys.training import checkpoint as ckpt

        best = trainer.early.best_epoch
        keep = list(files)
        if 0 <= best != epoch:
            keep.append(ckpt.rank_file(files[0].parent, f"epoch-{best + 1}"))
        with tempfile.TemporaryDirectory(prefix="recsys-ckpt-") as tmp:
            for f in keep:
                shutil.copy2(f, Path(tmp) / f.name)
            ray.train.report({"epoch": epoch + 1, **self.record}, checkpoint=ray.train.Checkpoint.from_directory(tmp),
                             checkpoint_dir_name=_checkpoint_name(epoch))


def _restore(run_dir: Path) -> Optional[int]:
    """Copy the latest Ray checkpoint (after a failure or ``--resume``) into ``run_dir/checkpoints``;
    the epoch it holds, or None on a fresh start."""
    import ray.train

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    target = run_dir / "checkpoints"
    target.mkdir(parents=True, exist_ok=True)
    with checkpoint.as_directory() as d:
        for f in Path(d).iterdir():
            if f.is_file():
                shutil.copy2(f, target / f.name)
    state = target / "state.json"
    return int(json.loads(state.read_text())["epoch"]) if state.is_file() else None


def _final_files(run_dir: Path) -> list[Path]:
    """Everything a finished RUN_DIR holds except the per-epoch checkpoints."""
    return [p for p in sorted(run_dir.rglob("*")) if p.is_file() and "checkpoints" not in p.relative_to(run_dir).parts]


def _worker_loop(config: dict[str, Any]) -> None:
    import ray.train

    from recsys.training.job import run_training

    rank = ray.train.get_context().get_world_rank()
    scratch = Path(tempfile.mkdtemp(prefix=f"recsys-rank{rank}-"))
    try:
        run_dir = scratch / "run"
        restored = _restore(run_dir)
        metrics = run_training(Path(config["data_dir"]), run_dir, RunConfig.from_json(config["cfg"]),
                               resume=restored is not None, progress=False, callbacks=[RayCheckpoints()])
        metrics["ray"] = {"workers": ray.train.get_context().get_world_size(), "restored_from_epoch": restored}
        if rank == 0:
            write_json_atomic(run_dir / "metrics.json", metrics)
            out = scratch / FINAL
            for f in _final_files(run_dir):
                (out / f.relative_to(run_dir)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, out / f.relative_to(run_dir))
            ray.train.report({"metrics": metrics}, checkpoint=ray.train.Checkpoint.from_directory(out),
                             checkpoint_dir_name=FINAL)
        else:
            ray.train.report({"metrics": metrics})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_record(run_dir: Path, storage: Optional[str], workers: int, resume: bool) -> dict[str, Any]:
    """The Ray run to start (a fresh name) or, with ``resume``, the one ``ray_run.json`` names."""
    path = run_dir / RECORD
    if resume:
        if not path.is_file():
            raise ConfigError(f"{run_dir}: no {RECORD}; --resume with --workers continues a run started with --workers")
        record = json.loads(path.read_text())
        if record["workers"] != workers:
            raise ConfigError(f"{run_dir}: was trained by {record['workers']} worker(s) and its checkpoints are "
                              f"sharded that way; resume it with --workers {record['workers']}")
        return record
    default = str((run_dir / "ray").resolve())
    record = {"storage": storage or default, "name": time.strftime("train-%Y%m%d-%H%M%S"), "workers": workers}
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)
    return record


def _copy_to(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)


def _materialize(checkpoint: Any, run_dir: Path) -> None:
    """Copy the final checkpoint's files into RUN_DIR, each atomically, metrics.json last."""
    with checkpoint.as_directory() as d:
        files = sorted((p for p in Path(d).rglob("*") if p.is_file()), key=lambda p: p.name == "metrics.json")
        for f in files:
            target = run_dir / f.relative_to(d)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_file_atomic(target, functools.partial(_copy_to, f))


def train_with_ray(data_dir: Path, run_dir: Path, cfg: RunConfig, workers: int, address: Optional[str] = None,
                   storage: Optional[str] = None, resume: bool = False, max_failures: int = 2) -> dict[str, Any]:
    """Train on ``workers`` Ray workers (local cluster unless ``address``); return the run's
    metrics, taken from the Ray ``Result``. RUN_DIR is built from the final checkpoint."""
    import dataclasses

    import torch
    from ray.train import CheckpointConfig, FailureConfig, ScalingConfig
    from ray.train import RunConfig as RayRunConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    record = _run_record(run_dir, storage, workers, resume)
    if not (run_dir / "config.json").is_file():  # marks RUN_DIR as train's output until the final files land
        from recsys.data.dataset_dir import open_dataset

        write_json_atomic(run_dir / "config.json", {**cfg.to_json(), "data_dir": str(data_dir),
                                                    "features_hash": open_dataset(data_dir).manifest["features_hash"]})
    with ray_session(address):
        gpu = torch.cuda.is_available()
        cpus = cpus_per_worker(workers)
        if cfg.train.threads is None:  # intra-op threads = the worker's CPUs, never more
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=cpus))
        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config={"data_dir": str(data_dir.resolve()), "cfg": cfg.to_json()},
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpu, resources_per_worker={"CPU": cpus}),
            torch_config=TorchConfig(backend="nccl" if gpu else "gloo"),
            run_config=RayRunConfig(name=record["name"], storage_path=record["storage"],
                                    failure_config=FailureConfig(max_failures=max_failures),
                                    checkpoint_config=CheckpointConfig(num_to_keep=2)),
        )
        result = trainer.fit()
    if result.error is not None:
        raise TrainingError(f"Ray training failed: {str(result.error).splitlines()[0][:400]}")
    final = result.metrics or {}
    if result.checkpoint is None or "metrics" not in final:
        raise TrainingError("Ray training ended without its final report")
    _materialize(result.checkpoint, run_dir)
    return dict(final["metrics"])
