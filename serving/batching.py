"""Micro-batching: concurrent requests share one model call.

Requests queue their work (rows to parse and score); one loop takes the first, gathers whatever
else arrives within ``max_wait_s`` (up to ``max_rows``) and hands the batch to one call of
``score_batch`` on a bounded pool of ``workers`` threads, whose torch threads add up to the
cores (see :func:`model_threads`). While the pool is busy, new requests wait in the queue and
join the next batch, so eight clients cost one parse and one model call each round, not eight.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union

import numpy as np

Outcome = Union[np.ndarray, Exception]
"""A request's scores, or the error that only that request gets (a bad row)."""


def model_threads(workers: int, cores: int | None = None) -> int:
    """Torch intra-op threads per model worker: the cores split between the workers (>= 1)."""
    return max((cores or os.cpu_count() or 1) // max(workers, 1), 1)


@dataclass
class _Pending:
    work: Any
    rows: int
    done: asyncio.Future = field(repr=False)


class MicroBatcher:
    """``await batcher.score(work, rows)`` -> ``(rows,)`` probabilities, computed with other requests'.

    Args:
        score_batch: the works of one batch -> one outcome per work, in order; runs in the pool
            (it must release the GIL, as torch and Polars do, to use more than one worker). An
            exception it raises goes to every request of the batch.
        workers: model calls in flight at once.
        max_rows: rows per model call (a larger request runs alone).
        max_wait_s: how long the first request of a batch waits for company.
    """

    def __init__(self, score_batch: Callable[[Sequence[Any]], list[Outcome]], workers: int = 1,
                 max_rows: int = 4096, max_wait_s: float = 0.002) -> None:
        self._score, self.max_rows, self.max_wait_s = score_batch, max_rows, max_wait_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="model")
        self._slots = asyncio.Semaphore(workers)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._loop_task: asyncio.Task | None = None
        self.batches = 0

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def score(self, work: Any, rows: int) -> np.ndarray:
        pending = _Pending(work, rows, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        return await pending.done

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            await self._slots.acquire()
            asyncio.get_running_loop().create_task(self._call(batch))

    async def _gather(self) -> list[_Pending]:
        batch = [await self._queue.get()]
        rows = batch[0].rows
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while rows < self.max_rows:
            if self._queue.empty() and asyncio.get_running_loop().time() >= deadline:
                break
            try:
                item = self._queue.get_nowait() if not self._queue.empty() else \
                    await asyncio.wait_for(self._queue.get(), deadline - asyncio.get_running_loop().time())
            except (asyncio.TimeoutError, ValueError):
                break
            batch.append(item)
            rows += item.rows
        return [p for p in batch if not p.done.cancelled()]

    async def _call(self, batch: list[_Pending]) -> None:
        try:
            if not batch:
                return
            loop = asyncio.get_running_loop()
            try:
                outcomes = await loop.run_in_executor(self._pool, self._score, [p.work for p in batch])
            except Exception as exc:  # every waiting request gets the error (-> 500)
                outcomes = [exc] * len(batch)
            self.batches += 1
            for p, outcome in zip(batch, outcomes):
                if p.done.done():
                    continue
                if isinstance(outcome, Exception):
                    p.done.set_exception(outcome)
                else:
                    p.done.set_result(outcome)
        finally:
            self._slots.release()
