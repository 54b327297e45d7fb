"""The three matmuls of an MLP layer's training step on this CPU, in the layouts autograd uses
and in the alternatives, for the input widths our models feed their first layer.

    .venv/bin/python benchmarks/gemm_shapes.py [--batch 4096] [--out-width 400]
        [--widths 3029 1581 624 400] [--rounds 5] [--dtype float32|bfloat16]

For ``y = x W^T`` (``x``: batch x K, ``W``: N x K, row-major as ``nn.Linear`` holds it) autograd
computes ``dX = g W`` and, to give ``W.grad`` W's layout, ``dW = g^T x``. The same products can
be formed as ``dW = (x^T g)^T`` (the layout a column-major W would get for free) and
``dX = (W^T g^T)^T`` (a transposed result). Prints ms and GFLOP/s per variant, median of
``--rounds`` alternating rounds (torch threads: 2, as our benchmarks run). Which one BLAS runs
fastest depends on the library and the CPU, so measure before changing a layer's layout.
Where PyTorch has oneDNN, its linear (``recsys.layers.linear.onednn_linear``) runs the same
products beside MKL's, with the copies its row-major inputs need counted. ``--dtype bfloat16``
times the same products on bf16 operands, what autocast hands the hidden layers on CPUs with
native bf16 (casts not counted).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys.layers.linear import onednn_enabled, onednn_linear  # noqa: E402


def variants(x: torch.Tensor, w: torch.Tensor, g: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    """Every way of forming the layer's three products, by name. aten's matmul runs MKL on fp32
    operands and oneDNN's bf16 kernels on bf16 ones; the explicit oneDNN linear only for fp32."""
    fp32 = x.dtype == torch.float32
    fs = {"forward x W^T": lambda: x @ w.t(),
          f"forward + ReLU ({'MKL' if fp32 else 'aten'})": lambda: torch.relu_(x @ w.t()),
          "dX = g W (autograd)": lambda: g @ w,
          "dX = (W^T g^T)^T": lambda: (w.t() @ g.t()).t(),
          "dW = g^T x (autograd)": lambda: g.t() @ x,
          "dW = (x^T g)^T": lambda: (x.t() @ g).t()}
    if onednn_enabled() and fp32:  # oneDNN's linear (what OneDnnLinear runs from 2,048 rows), copies included
        fs["forward + ReLU (oneDNN)"] = lambda: onednn_linear(x, w, None, True)
        fs["dX = g W (oneDNN)"] = lambda: onednn_linear(g, w.t().contiguous(), None, False)
        fs["dW = g^T x (oneDNN)"] = lambda: onednn_linear(g.t().contiguous(), x.t().contiguous(), None, False)
    return fs


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--out-width", type=int, default=400)
    p.add_argument("--widths", type=int, nargs="+", default=[3029, 1581, 624, 400])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    a = p.parse_args()
    dtype = getattr(torch, a.dtype)
    torch.set_num_threads(2)
    for k in a.widths:
        x, w, g = (torch.randn(*shape, dtype=dtype)
                   for shape in ((a.batch, k), (a.out_width, k), (a.batch, a.out_width)))
        fs = variants(x, w, g)
        times: dict[str, list[float]] = {name: [] for name in fs}
        for _ in range(a.rounds):
            for name, f in fs.items():
                t0 = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - t0)
        flop = 2 * a.batch * k * a.out_width
        for name, ts in times.items():
            m = statistics.median(ts)
            print(f"K={k:5d}  {name:24s} {1000 * m:7.1f} ms  {flop / m / 1e9:5.0f} GFLOP/s")


if __name__ == "__main__":
    main()
