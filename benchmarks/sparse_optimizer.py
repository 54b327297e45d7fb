"""fbgemm's fused embedding optimizers on this CPU: the backward of a table-batched lookup (the
gradient's scatter and the row updates, one kernel) for row-wise Adagrad, Adagrad and SGD, at the
shapes of OptInter's cross tables and of field tables.

    .venv/bin/python benchmarks/sparse_optimizer.py [--batch 4096] [--rounds 5] [--scale 1.0]

TorchRec fuses ``RowWiseAdagrad`` as ``EXACT_ROWWISE_ADAGRAD``, ``torch.optim.Adagrad`` as
``EXACT_ADAGRAD`` and ``torch.optim.SGD`` as ``EXACT_SGD``: the same fbgemm module is timed here
directly (``SplitTableBatchedEmbeddingBagsCodegen``, host tables, one id per bag as our models look
them up). Cross values hash nearly uniformly, so almost every id of a batch is a row of its own;
field values repeat (few rows take most ids). Prints the median ms per backward of alternating
rounds, ns per id and per distinct row updated, and the CPU capability torch runs at (fbgemm's
CPU kernels are generated for it: AVX2 and AVX-512 differ).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table  # noqa: E402
from recsys.memory import tune_allocator  # noqa: E402

OPTIMIZERS = ("rowwise_adagrad", "adagrad", "sgd")


def tbe(optimizer: str, tables: int, rows: int, dim: int) -> torch.nn.Module:
    from fbgemm_gpu.split_embedding_configs import EmbOptimType
    from fbgemm_gpu.split_table_batched_embeddings_ops_training import (
        ComputeDevice, EmbeddingLocation, SplitTableBatchedEmbeddingBagsCodegen)

    kind = {"rowwise_adagrad": EmbOptimType.EXACT_ROWWISE_ADAGRAD, "adagrad": EmbOptimType.EXACT_ADAGRAD,
            "sgd": EmbOptimType.EXACT_SGD}[optimizer]
    specs = [(rows, dim, EmbeddingLocation.HOST, ComputeDevice.CPU)] * tables
    return SplitTableBatchedEmbeddingBagsCodegen(specs, optimizer=kind, learning_rate=0.01, eps=1e-8)


def ids(tables: int, rows: int, batch: int, skewed: bool, gen: torch.Generator) -> torch.Tensor:
    """``tables x batch`` ids, table-major: uniform (hashed crosses) or skewed (``rows u^12``: a few
    rows take most ids, as field values do)."""
    if not skewed:
        return torch.randint(0, rows, (tables * batch,), generator=gen)
    u = torch.rand(tables * batch, generator=gen)
    return (rows * u.pow(12)).long().clamp_(max=rows - 1)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every table's rows (tests use small tables)")
    a = p.parse_args()
    torch.set_num_threads(2)
    tune_allocator()  # as recsys train does: freed blocks reused, not mapped afresh every round
    shapes = [("all-pairs search crosses", 325, 6153, 8, False), ("seeded search crosses", 50, 40000, 8, False),
              ("field tables (skewed ids)", 39, 150000, 16, True)]
    gen = torch.Generator().manual_seed(0)
    rows_out = []
    for label, tables, rows, dim, skewed in shapes:
        rows = max(int(rows * a.scale), 16)
        mods = {o: tbe(o, tables, rows, dim) for o in OPTIMIZERS}
        offsets = torch.arange(tables * a.batch + 1)
        times: dict[str, list[float]] = {o: [] for o in OPTIMIZERS}
        distinct = []
        for _ in range(a.rounds + 1):  # the first round warms up (first touch of tables and state)
            idx = ids(tables, rows, a.batch, skewed, gen)
            distinct.append(sum(int(t.unique().numel()) for t in idx.view(tables, a.batch)))
            for o, m in mods.items():
                out = m(idx, offsets)
                grad = torch.randn_like(out)
                t0 = time.perf_counter()
                out.backward(grad)
                times[o].append(time.perf_counter() - t0)
        n, u = tables * a.batch, statistics.median(distinct[1:])
        for o in OPTIMIZERS:
            ms = 1000 * statistics.median(times[o][1:])
            rows_out.append({"shape": label, "tables x rows x dim": f"{tables} x {rows:,} x {dim}",
                             "distinct rows / ids": f"{u / n:.2f}", "optimizer": o, "backward ms": f"{ms:.1f}",
                             "ns / id": f"{1e6 * ms / n:.0f}", "ns / distinct row": f"{1e6 * ms / u:.0f}"})
    print(f"torch CPU capability: {torch.backends.cpu.get_cpu_capability()}; batch {a.batch}, 2 threads, "
          f"median of {a.rounds} rounds")
    print_table(rows_out, list(rows_out[0]))


if __name__ == "__main__":
    main()
