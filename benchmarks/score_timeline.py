"""Where the time of one ``recsys score`` goes: the same steps as ``pipelines/score.score_here``
in this process, timed phase by phase.

    .venv/bin/python benchmarks/score_timeline.py BUNDLE RAW.tsv [--format criteo]
        [--depth 2] [--batch-rows 8192]

Prints when the bundle's features were read, when torch, TorchRec and the model code were
imported, when the model was loaded (and how many blocks the background thread had encoded by
then), the seconds the model spent scoring, the seconds spent waiting for the encoder, and the
total; ``--depth`` is how many encoded blocks may wait ahead of the model (``score_here``
uses 2), ``--batch-rows`` the rows per model call. Run it as a fresh process: the import time
is part of what it measures, so nothing here imports torch before the clock starts.
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Iterator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys.scoring.blocks import BundleFeatures, EncodedBlock  # noqa: E402
from recsys.threads import prefetched  # noqa: E402


def since_start() -> float:
    return time.perf_counter() - START


def stamped(blocks: Iterator[EncodedBlock], stamps: list[float]) -> Iterator[EncodedBlock]:
    for block in blocks:
        stamps.append(since_start())
        yield block


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("bundle", type=Path)
    p.add_argument("raw", type=Path)
    p.add_argument("--format", default="criteo", choices=["criteo", "avazu", "parquet"])
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--batch-rows", type=int, default=8192)
    a = p.parse_args()
    read = BundleFeatures.read(a.bundle)
    encoded: list[float] = []
    blocks = prefetched(stamped(read.blocks([a.raw], a.format), encoded), a.depth)
    print(f"bundle features read   {since_start():6.2f} s")
    from recsys.scoring.predictor import Predictor

    print(f"imports done           {since_start():6.2f} s")
    predictor = Predictor.load(a.bundle, read)
    print(f"model loaded           {since_start():6.2f} s  ({len(encoded)} blocks encoded by then)")
    waiting = scoring = 0.0
    rows = 0
    source = iter(blocks)
    while True:
        t0 = time.perf_counter()
        block = next(source, None)
        t1 = time.perf_counter()
        waiting += t1 - t0
        if block is None:
            break
        rows += len(predictor.score_arrays(block.dense, block.ids, batch_size=a.batch_rows))
        scoring += time.perf_counter() - t1
    total = since_start()
    print(f"model scoring          {scoring:6.2f} s  ({rows:,} rows, {len(encoded)} blocks; the last encoded at "
          f"{encoded[-1] if encoded else 0:.1f} s)")
    print(f"waiting for blocks     {waiting:6.2f} s")
    print(f"total                  {total:6.2f} s  = {rows / total:,.0f} rows/s (no Parquet output)")


if __name__ == "__main__":
    main()
