"""One dense optimizer step (Adam) of an MLP's parameters: PyTorch's default implementation,
``foreach`` and ``fused`` (what ``recsys.training.parallel.fused_adam`` builds on CPU and CUDA).

    .venv/bin/python benchmarks/dense_optimizer.py [--in-width 1037 637] [--units 400 400 400]
        [--rounds 5] [--steps 200]

The MLPs are ``recsys.layers.MLP`` with LayerNorm, as OptInter builds its classifier: input
1,037 wide for the seeded search over 50 pairs (39 fields x 16 + 13 dense values + 50 pairs x 8),
637 for the pair-free model and DeepFM's DNN. Gradients are random and fixed; every variant steps
its own copy of the parameters. Prints the median ms per step over ``--rounds`` alternating
rounds and the ratio to the default (torch threads: 2, as our benchmarks run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys.layers import MLP  # noqa: E402

VARIANTS = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def params_with_grads(in_width: int, units: list[int]) -> list[torch.nn.Parameter]:
    torch.manual_seed(0)
    ps = list(MLP(in_width, units, 1, layer_norm=True).parameters())
    for p in ps:
        p.grad = torch.randn_like(p)
    return ps


def time_steps(opt: torch.optim.Optimizer, steps: int) -> float:
    for _ in range(10):
        opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--in-width", type=int, nargs="+", default=[1037, 637])
    p.add_argument("--units", type=int, nargs="+", default=[400, 400, 400])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=200)
    a = p.parse_args()
    torch.set_num_threads(2)
    for width in a.in_width:
        opts = {name: torch.optim.Adam(params_with_grads(width, a.units), lr=1e-3, **kw)
                for name, kw in VARIANTS.items()}
        times: dict[str, list[float]] = {name: [] for name in opts}
        for _ in range(a.rounds):
            for name, opt in opts.items():
                times[name].append(time_steps(opt, a.steps))
        count = sum(q.numel() for q in opts["default"].param_groups[0]["params"])
        base = statistics.median(times["default"])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"input {width:5d} ({count:,} params)  {name:8s} {1000 * med:6.3f} ms/step  "
                  f"({base / med:4.2f}x the default; range {1000 * min(ts):.3f}-{1000 * max(ts):.3f})")


if __name__ == "__main__":
    main()
