"""``recsys prepare INPUT... --workers N``: the same passes as :func:`recsys.data.prepare.prepare_dataset`,
spread over Ray tasks, with the same result.

1. One task per input file runs pass 1 on it (the same block code): its staged parts, its
   rejects, and its train value counts, spilled to disk partitioned by key hash into one
   shared count directory (file names prefixed by the file's number).
2. One task per key partition merges that partition of every field over all files, exactly:
   memory per task is one partition's distinct values, never the whole input's, and the
   driver receives only the values kept in the vocabulary.
3. The driver fits the vocabulary (ordered by count, then value: independent of which task
   counted what, so ``vocab.parquet`` is byte-identical to single-process prepare's).
4. One task per input file encodes its staged rows into ``split/part-FFFFF-NNNNN.parquet``;
   parts sort in input order, so each split holds the same rows in the same order as a
   single-process prepare (row groups end at file boundaries, which is their only difference).

The DATA_DIR is built under a temporary sibling and renamed at the end; on a cluster it must
be on storage every node sees.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Optional

import polars as pl

from recsys.data import raw
from recsys.data.dataset_dir import MANIFEST
from recsys.data.prepare import (COUNTS, STAGE, PrepareResult, check_rows, field_numbers, fit_min_count,
                                 manifest_of, splitter_for, stage_inputs, write_rejects, write_splits)
from recsys.data.splits import SPLIT_NAMES, SplitAssigner
from recsys.errors import RecsysError
from recsys.features.counting import PARTITIONS, FieldCounts, ValueCounter
from recsys.features.fitted import FittedFeatures
from recsys.features.spec import DatasetConfig
from recsys.distributed.cluster import cpus_per_worker, ray_session
from recsys.files import replace_dir, temp_dir_for, write_json_atomic


def _stage_file(file_no: int, inputs: list[Path], cfg: DatasetConfig, fmt: str, tmp: Path,
                splitter: SplitAssigner) -> dict[str, Any]:
    """Pass 1 on one file; its counts end up on disk only (spilled with the file's prefix)."""
    sources = [raw.SourceFile(str(p)) for p in inputs]
    counter = ValueCounter(tmp / COUNTS, field_numbers=field_numbers(cfg), prefix=f"file{file_no:05d}-")
    stage = stage_inputs([(file_no, inputs[file_no])], inputs, sources, cfg, fmt, tmp / STAGE / f"{file_no:05d}",
                         counter, False, splitter)  # --strict: the driver raises the first reject in input order
    counter.flush()
    return {"parts": stage.parts, "rows": stage.rows, "rejected": stage.rejected, "source": sources[file_no],
            "rejects": pl.concat(stage.rejects) if stage.rejects else None}


def _merge_partition(partition: int, cfg: DatasetConfig, tmp: Path) -> dict[str, FieldCounts]:
    counter = ValueCounter(tmp / COUNTS, field_numbers=field_numbers(cfg))
    return {name: counter.finish_partition(name, partition, fit_min_count(cfg)) for name in cfg.categorical_fields}


def _encode_file(file_no: int, parts: list[Path], fitted: FittedFeatures, tmp: Path) -> dict[str, int]:
    return write_splits(parts, fitted, tmp, prefix=f"{file_no:05d}-")


def _fit(cfg: DatasetConfig, merged: list[dict[str, FieldCounts]]) -> FittedFeatures:
    counts = {name: FieldCounts(pl.concat([m[name].kept for m in merged]), sum(m[name].distinct for m in merged))
              for name in cfg.categorical_fields}
    return FittedFeatures.fit(cfg, counts)


def _get(refs: list[Any]) -> list[Any]:
    """``ray.get``, re-raising a task's user error (a bad or empty file) as itself, in one line."""
    import ray

    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, RecsysError):
            raise exc.cause from None
        raise


def prepare_with_ray(inputs: list[Path], cfg: DatasetConfig, out: Path, fmt: str, strict: bool = False,
                     workers: int = 2, address: Optional[str] = None) -> PrepareResult:
    """Distributed prepare; see the module docstring. Same errors as single-process prepare."""
    start = time.perf_counter()
    raw.require_files(inputs)
    out, tmp = Path(out), temp_dir_for(Path(out)).resolve()
    try:
        with ray_session(address):
            manifest, counts, rows, rejected = _run(inputs, cfg, fmt, strict, workers, tmp)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PrepareResult(out, counts, rejected, rows + rejected, time.perf_counter() - start, manifest)


def _run(inputs: list[Path], cfg: DatasetConfig, fmt: str, strict: bool, workers: int,
         tmp: Path) -> tuple[dict, dict[str, int], int, int]:
    """The passes as Ray tasks, building the DATA_DIR in ``tmp``; manifest, split rows, rows, rejects."""
    import ray

    cpus = cpus_per_worker(workers)
    remote = lambda f: ray.remote(num_cpus=cpus)(f)  # noqa: E731
    splitter = splitter_for(inputs, cfg, fmt)
    staged = _get([remote(_stage_file).remote(i, inputs, cfg, fmt, tmp, splitter) for i in range(len(inputs))])
    if strict:
        for s in staged:
            if s["rejects"] is not None:
                raw.raise_first_reject(s["rejects"], inputs)
    rows, rejected = sum(s["rows"] for s in staged), sum(s["rejected"] for s in staged)
    check_rows(inputs, rows, rejected)
    rejects = [s["rejects"] for s in staged if s["rejects"] is not None]
    if rejects:
        write_rejects(rejects, inputs, tmp)
    fitted = _fit(cfg, _get([remote(_merge_partition).remote(p, cfg, tmp) for p in range(PARTITIONS)]))
    shutil.rmtree(tmp / COUNTS, ignore_errors=True)
    fhash = fitted.save(tmp / "features")
    fitted_ref = ray.put(fitted)
    written = _get([remote(_encode_file).remote(i, s["parts"], fitted_ref, tmp) for i, s in enumerate(staged)])
    counts = {name: sum(w[name] for w in written) for name in SPLIT_NAMES}
    shutil.rmtree(tmp / STAGE)
    manifest = manifest_of(cfg, fmt, fitted, fhash, counts, rejected, [s["source"] for s in staged])
    write_json_atomic(tmp / MANIFEST, manifest)
    return manifest, counts, rows, rejected
