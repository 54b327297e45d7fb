"""Where a training step goes: DeepFM (or any model) at its shipped defaults on a prepared
DATA_DIR, one process, 2 threads, timed by phase and by operator.

    .venv/bin/python benchmarks/step.py DATA_DIR [--model deepfm] [--steps 40] [--set KEY=VALUE ...]

Phases (wall ms per step, after warm-up): loading the next batch, forward, backward (which
includes fbgemm's fused sparse-optimizer update of the looked-up rows) and the dense
optimizer step. Then ``torch.profiler``'s top operators by self CPU time over the same
steps, and an MLP-only reference (the same tower on random inputs of the same width: forward,
backward, Adam) so the rest of the step is what the model adds beyond its MLP.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys.config import parse_set_args  # noqa: E402
from recsys.data.dataset_dir import open_dataset  # noqa: E402
from recsys.embeddings.schema import FeatureSchema  # noqa: E402
from recsys.layers.mlp import MLP  # noqa: E402
from recsys.memory import tune_allocator  # noqa: E402
from recsys.models.registry import build_model  # noqa: E402
from recsys.precision import autocast  # noqa: E402
from recsys.tasks.ctr import CTRTask  # noqa: E402
from recsys.training.env import init_distributed, set_threads  # noqa: E402
from recsys.training.job import loaders  # noqa: E402
from recsys.training.parallel import build_optimizer, shard  # noqa: E402
from recsys.training.runconfig import resolve  # noqa: E402


def phases(model: Any, optimizer: Any, loader: Any, steps: int, precision: str, profile: bool) -> dict[str, float]:
    """Mean ms per step of each phase over ``steps`` steps after 5 warm-up steps."""
    task, device = CTRTask(), torch.device("cpu")
    it = iter(loader)
    total = {"load": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if profile else None
    for i in range(steps + 5):
        if i == 5:
            total = dict.fromkeys(total, 0.0)
            if prof:
                prof.__enter__()
        t0 = time.perf_counter()
        batch = next(it).to(device)
        t1 = time.perf_counter()
        with autocast(precision, device):
            out = model(batch.dense, batch.sparse)
        loss = task.loss(out, batch.labels)
        t2 = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        for k, v in zip(total, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            total[k] += v
    if prof:
        prof.__exit__(None, None, None)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))
    return {k: 1000 * v / steps for k, v in total.items()}


def mlp_only(in_dim: int, units: list[int], batch: int, steps: int, precision: str) -> float:
    """ms per step of the model's MLP alone: forward, backward and Adam on random inputs."""
    mlp = MLP(in_dim, units, out_dim=1)
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-3)
    x, y = torch.randn(batch, in_dim), torch.randint(0, 2, (batch, 1)).float()
    for i in range(steps + 5):
        if i == 5:
            t0 = time.perf_counter()
        with autocast(precision, torch.device("cpu")):
            out = mlp(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return 1000 * (time.perf_counter() - t0) / steps


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("--model", default="deepfm")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--set", dest="sets", action="append", default=[])
    p.add_argument("--no-profile", action="store_true")
    a = p.parse_args()
    cfg = resolve(a.model, overrides={**parse_set_args(a.sets), "threads": 2})
    info = open_dataset(a.data)
    env = init_distributed()
    set_threads(2)
    tune_allocator()  # as recsys train does: freed blocks reused, not mapped afresh every step
    schema = FeatureSchema.from_manifest(info.manifest, cfg.features)
    train = loaders(info, schema, cfg, env.rank, env.world_size)["train"]
    model = shard(build_model(cfg.model, cfg.model_cfg, cfg.embedding, schema, env.device), cfg.train, env)
    optimizer = build_optimizer(model, cfg.train)
    model.train()
    ms = phases(model, optimizer, train, a.steps, cfg.train.mixed_precision, not a.no_profile)
    batch = cfg.train.batch_size
    step = sum(ms.values())
    in_dim = len(schema.categorical) * cfg.embedding.embedding_dim + len(schema.dense)
    units = list(getattr(cfg.model_cfg, "dnn_hidden_units", []) or [])
    print(f"{a.model} batch {batch}, {cfg.train.mixed_precision}: {step:.1f} ms/step = {1000 * batch / step:,.0f} samples/s")
    for k, v in ms.items():
        print(f"  {k:9s} {v:7.1f} ms  {100 * v / step:5.1f}%")
    if units and in_dim:
        mlp = mlp_only(in_dim, units, batch, a.steps, cfg.train.mixed_precision)
        print(f"  MLP alone ({in_dim} -> {units}, forward + backward + Adam): {mlp:.1f} ms/step "
              f"= {1000 * batch / mlp:,.0f} samples/s; the rest of the step: {step - mlp:.1f} ms")


if __name__ == "__main__":
    main()
