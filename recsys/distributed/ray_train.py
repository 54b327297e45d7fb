"""Ray Train adapter: every worker runs the single-process training job unchanged.

Ray Train's ``TorchTrainer`` creates the process group (gloo on CPU, nccl on GPU) and sets
RANK/WORLD_SIZE; :func:`recsys.training.env.init_distributed` then joins it, the planner
shards the tables over the workers and the loader deals row groups to ranks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from recsys.training.runconfig import RunConfig


def _worker_loop(config: dict[str, Any]) -> None:
    import ray.train

    from recsys.training.job import run_training

    metrics = run_training(Path(config["data_dir"]), Path(config["run_dir"]), RunConfig.from_json(config["cfg"]),
                           progress=False)
    ray.train.report({"val_auc": metrics["val"]["auc"], "test_auc": metrics["test"]["auc"]})


def train_with_ray(data_dir: Path, run_dir: Path, cfg: RunConfig, workers: int,
                   address: Optional[str] = None) -> dict[str, Any]:
    """Train on ``workers`` Ray workers (local cluster unless ``address``); return metrics.json."""
    import ray
    import torch
    from ray.train import RunConfig as RayRunConfig
    from ray.train import ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    gpu = torch.cuda.is_available()
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"data_dir": str(data_dir.resolve()), "run_dir": str(run_dir.resolve()),
                           "cfg": cfg.to_json()},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpu),
        torch_config=TorchConfig(backend="nccl" if gpu else "gloo"),
        run_config=RayRunConfig(storage_path=str((run_dir / "ray").resolve()), name="train"),
    )
    trainer.fit()
    return json.loads((run_dir / "metrics.json").read_text())
