"""oneDNN against MKL for our dense layers, in one process, alternating, so that this
machine's drift (10-40% between runs) cancels out of the ratio.

    .venv/bin/python benchmarks/onednn.py [--data DATA_DIR] [--models deepfm optinter]
        [--rows 8192] [--rounds 15] [--step-rounds 4] [--batches 6]

1. DeepFM's MLP (:class:`recsys.layers.mlp.MLP`, 624 -> 400 -> 400 -> 400) forward on ``--rows``
   random rows with ``RECSYS_ONEDNN`` flipped between rounds: MKL's ``addmm`` + ReLU against
   oneDNN's linear with the ReLU fused, GFLOP/s medians and the largest difference.
2. With ``--data`` (a prepared dataset directory): each model's training step, built and sharded
   as ``recsys train`` builds it, on the same cached batches, with ``RECSYS_ONEDNN`` flipped
   between rounds (the layer reads it every call): ms per step, medians, and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys.layers.linear import onednn_enabled  # noqa: E402
from recsys.layers.mlp import MLP  # noqa: E402
from recsys.memory import tune_allocator  # noqa: E402


def mlp_forward(rows: int, rounds: int) -> None:
    torch.manual_seed(0)
    mlp = MLP(624, [400, 400, 400]).eval()  # DeepFM's tower: OneDnnLinear layers with the ReLU inside
    x = torch.randn(rows, 624)
    times: dict[str, list[float]] = {"1": [], "0": []}
    outputs: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for _ in range(rounds + 1):  # the first round warms both kernels up and is not counted
            for flag in times:
                os.environ["RECSYS_ONEDNN"] = flag
                t0 = time.perf_counter()
                outputs[flag] = mlp(x)
                times[flag].append(time.perf_counter() - t0)
    os.environ.pop("RECSYS_ONEDNN")
    flop = 2 * rows * (624 * 400 + 2 * 400 * 400)
    for flag, name in (("0", "MKL addmm + ReLU"), ("1", "oneDNN linear, ReLU fused")):
        m = statistics.median(times[flag][1:])
        print(f"MLP forward, {rows} rows, {name:26s} {1000 * m:7.1f} ms  {flop / m / 1e9:5.1f} GFLOP/s")
    print(f"largest difference of the outputs: {(outputs['1'] - outputs['0']).abs().max().item():.2e}")


def steps(data: Path, model: str, step_rounds: int, batches: int) -> None:
    from benchmarks.optinter_search_speed import Stepper
    from recsys.data.dataset_dir import open_dataset
    from recsys.embeddings.schema import FeatureSchema
    from recsys.training.env import init_distributed
    from recsys.training.job import loaders
    from recsys.training.optinter import ARCH
    from recsys.training.runconfig import resolve

    env = init_distributed()
    info = open_dataset(data)
    cfg = resolve(model, overrides={"threads": 2})
    schema = FeatureSchema.from_manifest(info.manifest)
    own = {ARCH: cfg.model_cfg.optinter_arch_learning_rate} if model == "optinter" else {}
    stepper = Stepper(model, cfg, schema, env, own)
    it = iter(loaders(info, schema, cfg, env.rank, env.world_size)["train"])
    cached = [next(it) for _ in range(batches)]
    for b in cached[:2]:  # warm-up
        stepper.step(b)
    times: dict[str, list[float]] = {"1": [], "0": []}
    for _ in range(step_rounds):
        for flag in times:
            os.environ["RECSYS_ONEDNN"] = flag
            stepper.times.clear()
            for b in cached:
                stepper.step(b)
            times[flag] += stepper.times
    os.environ.pop("RECSYS_ONEDNN")
    one, mkl = statistics.median(times["1"]), statistics.median(times["0"])
    print(f"{model} training step: oneDNN {1000 * one:.1f} ms, MKL {1000 * mkl:.1f} ms (medians of "
          f"{len(times['1'])} steps each): {mkl / one:.2f}x")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path)
    p.add_argument("--models", nargs="+", default=["deepfm"])
    p.add_argument("--rows", type=int, default=8192)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--step-rounds", type=int, default=4)
    p.add_argument("--batches", type=int, default=6)
    a = p.parse_args()
    if not onednn_enabled():
        sys.exit("this PyTorch has no oneDNN linear (or RECSYS_ONEDNN=0): nothing to compare")
    torch.set_num_threads(2)
    tune_allocator()  # as recsys train and recsys score do
    mlp_forward(a.rows, a.rounds)
    for model in a.models if a.data else []:
        steps(a.data, model, a.step_rounds, a.batches)


if __name__ == "__main__":
    main()
