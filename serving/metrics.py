"""Prometheus metrics of the service (``GET /metrics``): requests and errors by status, rows
scored, request latency and model batch sizes. With several worker processes
(``recsys serve --workers N``) prometheus_client's multiprocess mode sums them: every process
writes its values under ``$PROMETHEUS_MULTIPROC_DIR`` and any of them answers for all."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """One registry per app, so tests and several apps in one process do not share counts."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("recsys_requests", "HTTP requests by path and status", ["path", "status"],
                                registry=self.registry)
        self.errors = Counter("recsys_errors", "Requests answered 4xx or 5xx, by status", ["status"],
                              registry=self.registry)
        self.rows = Counter("recsys_rows_scored", "Rows scored", registry=self.registry)
        self.latency = Histogram("recsys_request_seconds", "Request latency (POST /score)",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_rows = Histogram("recsys_model_batch_rows", "Rows per model call (micro-batching)",
                                    buckets=(1, 2, 4, 8, 16, 64, 256, 1024, 4096, 16384), registry=self.registry)

    def observe(self, path: str, status: int, seconds: float | None = None) -> None:
        self.requests.labels(path, str(status)).inc()
        if status >= 400:
            self.errors.labels(str(status)).inc()
        if seconds is not None:
            self.latency.observe(seconds)

    def render(self) -> bytes:
        if os.environ.get(MULTIPROCESS_ENV):  # several worker processes: the sum of all of them
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
