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


def prefetched(it: Iterator[T], depth: int) -> "Prefetched[T]":
    """Run ``it`` in a daemon thread, ``depth`` items ahead, from this call on (not from the
    first ``next``: the work overlaps whatever the caller does before it consumes, such as
    importing torch); re-raise its errors here, at their item's turn.

    Memory: at most ``depth + 1`` items exist beyond the one the consumer holds. Closing the
    iterator, or dropping it unfinished, stops the thread at its next item.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:  # holds no reference to the consumer's iterator, so dropping it stops this
        try:
            for item in it:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # forwarded to the consumer
            put(_Raised(exc))

    threading.Thread(target=work, daemon=True).start()
    return Prefetched(q, stop)


_DONE = object()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetched(Iterator[T]):
    """The consumer's side of :func:`prefetched`; :meth:`close` stops the producing thread."""

    def __init__(self, q: queue.Queue, stop: threading.Event) -> None:
        self._q, self._stop, self._done = q, stop, False

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._q.get()
        if item is _DONE or isinstance(item, _Raised):
            self.close()
            if isinstance(item, _Raised):
                raise item.exc
            raise StopIteration
        return item

    def close(self) -> None:
        self._done = True
        self._stop.set()
        while not self._q.empty():
            self._q.get_nowait()

    def __del__(self) -> None:
        self._stop.set()


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


__all__ = ["Prefetched", "ordered_map", "prefetched"]
