"""``recsys score ... --workers N``: Ray Data scores input files in parallel, output in input order.

Each input file is one item of a Ray dataset; ``map_batches`` hands items to a pool of
``N`` stateful actors, each holding one :class:`~recsys.scoring.predictor.Predictor` (the
bundle loads once per actor, not per file). An actor scores a whole file with the same code
as single-process scoring into a part file (rows numbered from 0 within the file); the driver
then concatenates the parts in input order, shifting ``row`` by the rows before each file,
into ``SCORES.parquet`` under a temporary name. The output equals single-process scoring's.
The unit of parallelism is a file: Criteo 1TB's 24 day files keep 24 actors busy, one big
file keeps one.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from recsys.distributed.cluster import cpus_per_worker, ray_session
from recsys.scoring.predictor import Predictor, ScoreResult


class FileScorer:
    """A Ray Data actor: loads the bundle once, scores whole files into part files."""

    def __init__(self, bundle: str, fmt: str, parts: str, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.predictor, self.fmt, self.parts = Predictor.load(bundle), fmt, Path(parts)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows, rejected = [], []
        for file_no, path in zip(batch["file_no"], batch["path"]):
            r = self.predictor.score_files([Path(str(path))], self.fmt, self.parts / f"part-{int(file_no):06d}.parquet")
            rows.append(r.rows)
            rejected.append(r.rejected)
        return {"file_no": batch["file_no"], "rows": np.asarray(rows), "rejected": np.asarray(rejected)}


def _concatenate(parts: list[Path], out: Path) -> int:
    """Parts in input order -> ``out`` with global row numbers, streamed part by part."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from recsys.files import write_file_atomic

    def write(tmp: Path) -> None:
        offset = 0
        with pq.ParquetWriter(tmp, pa.schema([("row", pa.int64()), ("score", pa.float32())])) as writer:
            for part in parts:
                table = pq.read_table(part)
                writer.write_table(table.set_column(0, "row", pc.add(table.column("row"), offset)))
                offset += table.num_rows

    write_file_atomic(out, write)
    return sum(pq.ParquetFile(p).metadata.num_rows for p in parts)


def score_with_ray(bundle: Path, inputs: list[Path], fmt: str, out: Path, workers: int,
                   address: Optional[str] = None) -> ScoreResult:
    start = time.perf_counter()
    Predictor.load(bundle)  # a bad bundle fails here, in one line, before any actor starts
    parts = Path(tempfile.mkdtemp(prefix=f".{out.name}.parts-", dir=out.parent.resolve()))
    try:
        with ray_session(address):
            done = _score_parts(bundle, inputs, fmt, parts, workers)
        rows = _concatenate([parts / f"part-{i:06d}.parquet" for i in range(len(inputs))], out)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return ScoreResult(rows, int(sum(d["rejected"] for d in done)), time.perf_counter() - start)


def _score_parts(bundle: Path, inputs: list[Path], fmt: str, parts: Path, workers: int) -> list[dict[str, Any]]:
    """Every input file scored by a FileScorer actor into ``parts``; one result row per file."""
    import ray

    cpus = cpus_per_worker(workers)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ds = ray.data.from_items([{"file_no": i, "path": str(p.resolve())} for i, p in enumerate(inputs)])
    done: list[dict[str, Any]] = ds.map_batches(
        FileScorer, fn_constructor_args=(str(bundle.resolve()), fmt, str(parts), cpus), batch_size=1,
        concurrency=min(workers, len(inputs)), num_cpus=cpus).take_all()
    return done
