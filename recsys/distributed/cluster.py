"""Joining a Ray cluster, once for every verb that runs on Ray (train, prepare, score, experiment)."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, Optional


@contextlib.contextmanager
def ray_session(address: Optional[str] = None) -> Iterator[None]:
    """Use the running Ray (a test's, a notebook's) or start/join one for the block, and shut down
    only what was started here. ``address``: a cluster (``ray://head:10001``, ``auto``), else local."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def cpus_per_worker(workers: int) -> int:
    """The cluster's CPUs split over ``workers`` (at least 1): each worker's Ray CPU request and its
    torch threads, so workers never oversubscribe the cores."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", os.cpu_count() or 1)) // max(workers, 1))
