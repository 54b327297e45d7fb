"""Background threads for pipelined work (no torch import: ingestion uses it too).

Polars, PyArrow, hashlib, file I/O and torch kernels release the GIL, so one stage of a
pipeline running in a thread overlaps the next stage on the other core.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetched(it: Iterator[T], depth: int) -> Iterator[T]:
    """Run ``it`` in a daemon thread, ``depth`` items ahead; re-raise its errors here.

    Memory: at most ``depth + 1`` items exist beyond the one the consumer holds.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # forwarded to the consumer
            q.put(exc)

    threading.Thread(target=work, daemon=True).start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not q.empty():
            q.get_nowait()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``fn`` over ``items`` in ``workers`` threads; results in input order.

    Items are pulled from ``items`` in the calling thread, at most ``workers + 1`` ahead of
    the result being consumed, so memory is bounded by a few items. An error in ``fn`` is
    raised here, at its item's turn; items not yet started are then cancelled.
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


__all__ = ["ordered_map", "prefetched"]
