"""Micro-batching: concurrent requests share one model call.

Requests queue their typed frames; one loop takes the first, gathers whatever else arrives
within ``max_wait_s`` (up to ``max_rows``), concatenates them and runs the model on a bounded
pool of ``workers`` threads, whose torch threads add up to the cores (see
:func:`model_threads`). While the pool is busy, new requests wait in the queue and join the
next batch, so eight clients cost one model call each round, not eight.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import polars as pl


def model_threads(workers: int, cores: int | None = None) -> int:
    """Torch intra-op threads per model worker: the cores split between the workers (>= 1)."""
    return max((cores or os.cpu_count() or 1) // max(workers, 1), 1)


@dataclass
class _Pending:
    frame: pl.DataFrame
    done: asyncio.Future = field(repr=False)


class MicroBatcher:
    """``await batcher.score(typed)`` -> ``(N,)`` probabilities, computed with other requests' rows.

    Args:
        score: typed frame -> probabilities; runs in the pool (it must release the GIL, as
            torch and Polars do, to use more than one worker).
        workers: model calls in flight at once.
        max_rows: rows per model call (a larger request runs alone).
        max_wait_s: how long the first request of a batch waits for company.
    """

    def __init__(self, score: Callable[[pl.DataFrame], np.ndarray], workers: int = 1, max_rows: int = 4096,
                 max_wait_s: float = 0.002) -> None:
        self._score, self.max_rows, self.max_wait_s = score, max_rows, max_wait_s
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

    async def score(self, frame: pl.DataFrame) -> np.ndarray:
        pending = _Pending(frame, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        return await pending.done

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            await self._slots.acquire()
            asyncio.get_running_loop().create_task(self._call(batch))

    async def _gather(self) -> list[_Pending]:
        batch = [await self._queue.get()]
        rows = batch[0].frame.height
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
            rows += item.frame.height
        return [p for p in batch if not p.done.cancelled()]

    async def _call(self, batch: list[_Pending]) -> None:
        try:
            if not batch:
                return
            frame = pl.concat([p.frame for p in batch], how="vertical") if len(batch) > 1 else batch[0].frame
            loop = asyncio.get_running_loop()
            try:
                scores = await loop.run_in_executor(self._pool, self._score, frame)
            except Exception as exc:  # every waiting request gets the error (-> 500)
                for p in batch:
                    if not p.done.done():
                        p.done.set_exception(exc)
                return
            self.batches += 1
            start = 0
            for p in batch:
                if not p.done.done():
                    p.done.set_result(scores[start:start + p.frame.height])
                start += p.frame.height
        finally:
            self._slots.release()
