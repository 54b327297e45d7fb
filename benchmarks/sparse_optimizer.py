"""fbgemm's fused embedding optimizers on this CPU: the backward of a table-batched lookup (the
gradient's scatter and the row updates, one kernel) for row-wise Adagrad, Adagrad and SGD, at the
shapes of OptInter's cross tables and of field tables, with a table per lookup key or one table
that all keys share (each key in its own block of rows, as a pair's block in a cross table).

    .venv/bin/python benchmarks/sparse_optimizer.py [--batch 4096] [--rounds 5] [--scale 1.0]

TorchRec fuses ``RowWiseAdagrad`` as ``EXACT_ROWWISE_ADAGRAD``, ``torch.optim.Adagrad`` as
``EXACT_ADAGRAD`` and ``torch.optim.SGD`` as ``EXACT_SGD``: the same fbgemm module is timed here
directly (``SplitTableBatchedEmbeddingBagsCodegen``, host tables, one id per bag as our models look
them up; a shared table is one table under several features, fbgemm's ``feature_table_map``).
Cross values hash nearly uniformly, so almost every id of a batch is a row of its own;
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


def tbe(optimizer: str, keys: int, rows: int, dim: int, shared: bool) -> torch.nn.Module:
    """``keys`` lookup keys of ``rows`` rows each: a table per key, or one of ``keys x rows`` they share."""
    from fbgemm_gpu.split_embedding_configs import EmbOptimType
    from fbgemm_gpu.split_table_batched_embeddings_ops_training import (
        ComputeDevice, EmbeddingLocation, SplitTableBatchedEmbeddingBagsCodegen)

    kind = {"rowwise_adagrad": EmbOptimType.EXACT_ROWWISE_ADAGRAD, "adagrad": EmbOptimType.EXACT_ADAGRAD,
            "sgd": EmbOptimType.EXACT_SGD}[optimizer]
    spec = (keys * rows if shared else rows, dim, EmbeddingLocation.HOST, ComputeDevice.CPU)
    return SplitTableBatchedEmbeddingBagsCodegen([spec] if shared else [spec] * keys,
                                                 feature_table_map=[0] * keys if shared else list(range(keys)),
                                                 optimizer=kind, learning_rate=0.01, eps=1e-8)


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
    shapes = [("all-pairs search crosses", 325, 6153, 8, False, False),
              ("all-pairs search crosses", 325, 6153, 8, False, True),
              ("seeded search crosses", 50, 40000, 8, False, False), ("seeded search crosses", 50, 40000, 8, False, True),
              ("retrain crosses (22 pairs)", 22, 6153, 8, False, False),
              ("retrain crosses (22 pairs)", 22, 6153, 8, False, True),
              ("field tables (skewed ids)", 39, 150000, 16, True, False),
              ("field tables (skewed ids)", 39, 150000, 16, True, True)]
    gen = torch.Generator().manual_seed(0)
    rows_out = []
    for label, keys, rows, dim, skewed, shared in shapes:
        rows = max(int(rows * a.scale), 16)
        mods = {o: tbe(o, keys, rows, dim, shared) for o in OPTIMIZERS}
        offsets = torch.arange(keys * a.batch + 1)
        blocks = (torch.arange(keys) * rows).repeat_interleave(a.batch) if shared else 0  # each key its own rows
        times: dict[str, list[float]] = {o: [] for o in OPTIMIZERS}
        distinct = []
        for _ in range(a.rounds + 1):  # the first round warms up (first touch of tables and state)
            idx = ids(keys, rows, a.batch, skewed, gen)
            distinct.append(sum(int(t.unique().numel()) for t in idx.view(keys, a.batch)))
            idx = idx + blocks
            for o, m in mods.items():
                out = m(idx, offsets)
                grad = torch.randn_like(out)
                t0 = time.perf_counter()
                out.backward(grad)
                times[o].append(time.perf_counter() - t0)
        n, u = keys * a.batch, statistics.median(distinct[1:])
        for o in OPTIMIZERS:
            ms = 1000 * statistics.median(times[o][1:])
            rows_out.append({"shape": label, "keys x rows x dim": f"{keys} x {rows:,} x {dim}",
                             "tables": "one shared" if shared else "one per key",
                             "distinct rows / ids": f"{u / n:.2f}", "optimizer": o, "backward ms": f"{ms:.1f}",
                             "ns / id": f"{1e6 * ms / n:.0f}", "ns / distinct row": f"{1e6 * ms / u:.0f}"})
    print(f"torch CPU capability: {torch.backends.cpu.get_cpu_capability()}; batch {a.batch}, 2 threads, "
          f"median of {a.rounds} rounds")
    print_table(rows_out, list(rows_out[0]))


if __name__ == "__main__":
    main()
