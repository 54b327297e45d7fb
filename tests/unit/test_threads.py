"""Pipelining helpers: order, bounded look-ahead, errors raised at their item's turn."""

from __future__ import annotations

import random
import threading
import time

import pytest

from recsys.threads import ordered_map, prefetched


def test_ordered_map_keeps_input_order_and_bounds_look_ahead() -> None:
    pulled: list[int] = []
    consumed: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(40):
            pulled.append(i)
            yield i

    def work(i: int) -> int:
        time.sleep(random.random() / 500)
        return i * i

    for r in ordered_map(work, items(), workers=3):
        consumed.append(r)
        assert len(pulled) - len(consumed) <= 3  # workers items ahead of the consumer, at most
    assert consumed == [i * i for i in range(40)]


def test_ordered_map_raises_at_the_failing_item() -> None:
    def work(i: int) -> int:
        if i == 5:
            raise ValueError("item 5")
        return i

    got = []
    with pytest.raises(ValueError, match="item 5"):
        for r in ordered_map(work, range(100), workers=2):
            got.append(r)
    assert got == [0, 1, 2, 3, 4]


def test_prefetched_runs_ahead_in_another_thread_and_forwards_errors() -> None:
    threads = set()

    def gen():  # type: ignore[no-untyped-def]
        for i in range(3):
            threads.add(threading.get_ident())
            yield i
        raise RuntimeError("source failed")

    out = []
    with pytest.raises(RuntimeError, match="source failed"):
        for x in prefetched(gen(), depth=1):
            out.append(x)
    assert out == [0, 1, 2] and threading.get_ident() not in threads


def test_prefetched_starts_at_once_and_stops_when_dropped() -> None:
    """Work starts at the call, before the first ``next`` (scoring encodes blocks while torch
    imports); an iterator dropped unfinished stops its thread instead of leaving it blocked."""
    produced: list[int] = []
    finished = threading.Event()

    def gen():  # type: ignore[no-untyped-def]
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            finished.set()

    it = prefetched(gen(), depth=2)
    deadline = time.monotonic() + 5
    while len(produced) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(produced) == 3  # depth items queued plus the one waiting to be put, none consumed
    assert next(it) == 0
    del it
    assert finished.wait(5) and len(produced) < 1000
