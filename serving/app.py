"""``recsys serve BUNDLE_DIR [--host 127.0.0.1] [--port 8080] [--workers W]``: the scoring service.

An ASGI app (FastAPI on uvicorn; OpenAPI page at ``/docs``):

* ``POST /score``: ``{"rows": [{"I1": 3, "C1": "68fd1e64", ...}, ...]}`` (raw values, the
  dataset's field names; missing fields are legal) or an Arrow IPC stream
  (``Content-Type: application/vnd.apache.arrow.stream``) -> ``{"scores": [p, ...]}`` in row
  order (an Arrow stream with a ``score`` column when ``Accept`` asks for one).
* ``GET /healthz`` (alive), ``/readyz`` (bundle loaded), ``/metadata``, ``/metrics`` (Prometheus).

Answers: 400 unreadable body or Content-Length, 411 no Content-Length, 413 body or row count
over the limits, 415 unknown content type, 422 a bad row (naming row and field), 500 an
unexpected error (JSON body and a log line), 503 not ready, 504 over the request timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Sequence

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from recsys.errors import ConfigError
from recsys.memory import release_freed_memory
from recsys.scoring.predictor import Predictor
from recsys.scoring.rows import RowError, TextRows, arrow_rows_frame, json_rows_text, row_error, text_rows_frame
from serving.batching import MicroBatcher, model_threads
from serving.metrics import MULTIPROCESS_ENV, ServiceMetrics

log = logging.getLogger("recsys.serving")
ARROW = "application/vnd.apache.arrow.stream"


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and batching of one service process."""

    max_body_bytes: int = 8 << 20
    max_rows: int = 10_000
    timeout_s: float = 10.0
    workers: int = 1  # processes (uvicorn's workers), each with one model call in flight
    max_batch_rows: int = 4096
    max_wait_ms: float = 2.0


class Problem(Exception):
    """An answer other than 200: status and a one-line message."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message, **self.extra}, status_code=self.status)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing it (413) as soon as it outgrows ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length is None and "chunked" not in request.headers.get("transfer-encoding", "").lower():
        raise Problem(411, "Content-Length required")
    if length is not None:
        if not length.isdigit():
            raise Problem(400, f"invalid Content-Length: {length!r}")
        if int(length) > limit:
            raise Problem(413, f"body of {int(length):,} bytes is over the limit of {limit:,}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem(413, f"body is over the limit of {limit:,} bytes")
    return bytes(body)


def parse_rows(body: bytes, content_type: str, predictor: Predictor, max_rows: int) -> tuple[Any, int]:
    """A request body -> (work for :func:`score_batch`, row count), or Problem 400/413/415/422.

    JSON rows are only checked here (objects, field names, value types) and become
    :class:`TextRows`; their parsing and validation run once per batch. JSON is decoded by
    orjson (a 256-row request of Criteo text values in 1.1 ms against the standard library's
    1.7-2.7). An Arrow table becomes its typed frame here."""
    cfg = predictor.features.dataset
    kind = content_type.split(";")[0].strip().lower()
    if kind == ARROW:
        try:
            table = pa.ipc.open_stream(body).read_all()
        except (pa.ArrowInvalid, OSError) as exc:
            raise Problem(400, f"not an Arrow IPC stream: {exc}") from None
        _check_count(table.num_rows, max_rows)
        return arrow_rows_frame(table, cfg), table.num_rows
    if kind not in ("application/json", ""):
        raise Problem(415, f"unsupported Content-Type {kind!r}: use application/json or {ARROW}")
    try:
        doc = orjson.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"body is not JSON: {exc}") from None
    rows = doc.get("rows") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise Problem(422, 'expected {"rows": [{field: value, ...}, ...]}')
    _check_count(len(rows), max_rows)
    return json_rows_text(rows, cfg), len(rows)


def _check_count(rows: int, max_rows: int) -> None:
    if rows == 0:
        raise Problem(422, "no rows to score")
    if rows > max_rows:
        raise Problem(413, f"{rows:,} rows is over the limit of {max_rows:,} per request")


def scores_response(scores: np.ndarray, accept: str) -> Response:
    if ARROW in accept:
        sink = pa.BufferOutputStream()
        table = pa.table({"score": pa.array(scores, type=pa.float32())})
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Response(sink.getvalue().to_pybytes(), media_type=ARROW)
    return Response(orjson.dumps({"scores": scores.tolist()}), media_type="application/json")


def create_app(load: Callable[[], Predictor], cfg: ServiceConfig = ServiceConfig()) -> FastAPI:
    """The service around the predictor that ``load`` returns (loaded in the background at
    start-up: ``/healthz`` answers at once, ``/readyz`` and ``/score`` once it is loaded)."""
    metrics = ServiceMetrics()
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def load_predictor() -> None:
            predictor = await asyncio.get_running_loop().run_in_executor(None, load)
            batcher = MicroBatcher(lambda works: score_batch(predictor, works, metrics), 1,
                                   cfg.max_batch_rows, cfg.max_wait_ms / 1000)
            batcher.start()
            state.update(predictor=predictor, batcher=batcher)

        loading = asyncio.get_running_loop().create_task(load_predictor())
        state["loading"] = loading
        yield
        loading.cancel()
        if "batcher" in state:
            await state["batcher"].stop()

    app = FastAPI(title="recsys scoring service", lifespan=lifespan)

    def ready() -> tuple[Predictor, MicroBatcher]:
        loading = state.get("loading")
        if loading is not None and loading.done() and loading.exception() is not None:
            raise Problem(503, f"bundle failed to load: {loading.exception()}")
        if "batcher" not in state:
            raise Problem(503, "bundle not loaded yet")
        return state["predictor"], state["batcher"]

    @app.post("/score", openapi_extra=_score_openapi())
    async def score(request: Request) -> Response:
        start = time.perf_counter()
        try:
            predictor, batcher = ready()
            body = await read_body(request, cfg.max_body_bytes)
            work, rows = parse_rows(body, request.headers.get("content-type", ""), predictor, cfg.max_rows)
            try:
                scores = await asyncio.wait_for(batcher.score(work, rows), cfg.timeout_s)
            except asyncio.TimeoutError:
                raise Problem(504, f"scoring took longer than {cfg.timeout_s:g}s") from None
            response = scores_response(scores, request.headers.get("accept", ""))
        except RowError as exc:
            response = Problem(422, str(exc), row=exc.row, field=exc.field).response()
        except Problem as exc:
            response = exc.response()
        except Exception as exc:  # noqa: BLE001 (any failure is answered, never a dropped connection)
            log.exception("POST /score failed")
            response = Problem(500, f"internal error: {type(exc).__name__}: {exc}").response()
        metrics.observe("/score", response.status_code, time.perf_counter() - start)
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        metrics.observe("/healthz", 200)
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz() -> Response:
        try:
            ready()
        except Problem as exc:
            metrics.observe("/readyz", exc.status)
            return exc.response()
        metrics.observe("/readyz", 200)
        return JSONResponse({"status": "ready"})

    @app.get("/metadata")
    async def metadata() -> Response:
        try:
            predictor, _ = ready()
        except Problem as exc:
            return exc.response()
        m = predictor.manifest
        metrics.observe("/metadata", 200)
        return JSONResponse({"model": m["model"], "features_hash": m["features_hash"],
                             "fields": list(predictor.features.dataset.columns),
                             "label": predictor.features.dataset.label, "metrics": m.get("metrics", {}),
                             "limits": cfg.__dict__})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        metrics.observe(request.url.path, 500)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, status_code=500)

    return app


def score_batch(predictor: Predictor, works: Sequence[Any], metrics: ServiceMetrics) -> list[Any]:
    """One model call for a batch of requests' work: JSON rows (:class:`TextRows`, parsed and
    validated here in one Polars pass) and typed Arrow frames -> each request's scores, or its first bad row."""
    outcomes: list[Any] = [None] * len(works)
    parts, owners = [], []  # typed frames to score; (request, rows it owns in them)
    texts = [(k, w.frame) for k, w in enumerate(works) if isinstance(w, TextRows)]
    if texts:
        frames = [f for _, f in texts]
        typed, reasons = text_rows_frame(pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0],
                                         predictor.features.dataset)
        parts.append(typed)
        start = 0
        for k, f in texts:
            mine = reasons[start:start + f.height]
            start += f.height
            bad = next((i for i, r in enumerate(mine) if r is not None), None)
            if bad is not None:
                outcomes[k] = row_error(str(mine[bad]), bad)
            owners.append((k, sum(r is None for r in mine)))
    for k, w in enumerate(works):
        if isinstance(w, pl.DataFrame):
            parts.append(w)
            owners.append((k, w.height))
    frame = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    metrics.batch_rows.observe(frame.height)
    scores = predictor.score_typed(frame) if frame.height else np.zeros(0, np.float32)
    metrics.rows.inc(frame.height)
    offset = 0
    for k, n in owners:
        if outcomes[k] is None:
            outcomes[k] = scores[offset:offset + n]
        offset += n
    return outcomes


def _score_openapi() -> dict[str, Any]:
    row = {"type": "object", "additionalProperties": {"type": ["string", "number", "null"]},
           "example": {"I1": 3, "C1": "68fd1e64"}}
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["rows"],
                                        "properties": {"rows": {"type": "array", "items": row}}}},
        ARROW: {"schema": {"type": "string", "format": "binary"}}}}}


def parser() -> argparse.ArgumentParser:
    d = ServiceConfig()
    p = argparse.ArgumentParser(prog="recsys serve", description="Serve click probabilities over HTTP.")
    p.add_argument("bundle", type=Path)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("RECSYS_PORT", "8080")),
                   help="default: $RECSYS_PORT, else 8080")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="worker processes (each loads the model; torch threads per worker = cores / workers)")
    p.add_argument("--replicas", type=int, default=None,
                   help="serve as N Ray Serve replicas instead (traffic beyond one machine; see serving/replicas.py)")
    p.add_argument("--address", default=None, help="with --replicas: the Ray cluster to join (default: start one here)")
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes)
    p.add_argument("--max-rows", type=int, default=d.max_rows, help="rows per request")
    p.add_argument("--timeout-s", type=float, default=d.timeout_s, help="per request")
    p.add_argument("--max-batch-rows", type=int, default=d.max_batch_rows, help="rows per model call")
    p.add_argument("--max-wait-ms", type=float, default=d.max_wait_ms,
                   help="how long a request waits for others to share its model call")
    return p


SERVE_ENV = "RECSYS_SERVE"
"""Bundle and :class:`ServiceConfig` (JSON) handed to each worker process of ``--workers N``."""


def main(argv: Sequence[str]) -> None:
    import torch
    import uvicorn

    a = parser().parse_args(argv)
    if a.replicas is not None and (a.replicas < 1 or a.workers != 1):
        raise ConfigError("--replicas N needs N >= 1 and no --workers (each replica is one process)")
    cfg = ServiceConfig(a.max_body_bytes, a.max_rows, a.timeout_s, a.workers, a.max_batch_rows, a.max_wait_ms)
    threads = model_threads(cfg.workers)
    torch.set_num_threads(threads)
    predictor = Predictor.load(a.bundle)  # a bad bundle fails here, with one line, before binding the port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    how = f"{a.replicas} Ray Serve replica(s)" if a.replicas else f"{cfg.workers} worker process(es) of {threads} thread(s)"
    print(f"serving {a.bundle} ({predictor.manifest['model']}) on http://{a.host}:{a.port} as {how} "
          f"(POST /score, GET /healthz /readyz /metadata /metrics, docs at /docs)", flush=True)
    if a.replicas is not None:
        from serving.replicas import serve_replicas

        del predictor
        release_freed_memory()
        serve_replicas(a.bundle, cfg, a.replicas, a.host, a.port, a.address)
        return
    # loop="asyncio": the event loop the service was measured with, whether or not uvloop (which
    # `ray[serve]` brings along) is installed; the image has no uvloop.
    server = dict(host=a.host, port=a.port, log_level="warning", access_log=False, timeout_keep_alive=30, loop="asyncio")
    if cfg.workers == 1:
        uvicorn.run(create_app(lambda: predictor, cfg), **server)  # type: ignore[arg-type]
        return
    del predictor  # each worker loads its own copy
    release_freed_memory()
    with tempfile.TemporaryDirectory(prefix="recsys-metrics-") as metrics_dir:
        os.environ.update({SERVE_ENV: json.dumps({"bundle": str(a.bundle.resolve()), **dataclasses.asdict(cfg)}),
                           MULTIPROCESS_ENV: metrics_dir, "POLARS_MAX_THREADS": str(threads)})
        run_workers(uvicorn.Config("serving.app:worker_app", factory=True, workers=cfg.workers, **server))  # type: ignore[arg-type]


def run_workers(config: Any) -> None:
    """``uvicorn.run`` with ``workers > 1``, on a listening socket created as TCP.

    uvicorn's supervisor binds ``socket.socket(family)``, whose ``proto`` is 0; accepted sockets
    inherit it and asyncio then leaves Nagle's algorithm on (it sets ``TCP_NODELAY`` only for
    ``proto == IPPROTO_TCP``), so every keep-alive request after the first waited ~40 ms for the
    client's delayed ACK (uvicorn issue #3149; measured here: 1-row p50 54 ms with 2 workers,
    12 ms with 1). Same supervisor (restarts dead workers), same socket, ``proto`` set."""
    from uvicorn.supervisors import Multiprocess

    try:
        Multiprocess(config, sockets=[tcp_listener(config.bind_socket())]).run()
    except KeyboardInterrupt:
        pass


def tcp_listener(bound: socket.socket) -> socket.socket:
    """The same listening socket, its ``proto`` IPPROTO_TCP (see :func:`run_workers`)."""
    sock = socket.socket(bound.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=bound.detach())
    sock.set_inheritable(True)
    return sock


def worker_app() -> FastAPI:
    """One worker process of ``recsys serve --workers N`` (uvicorn's own multi-process supervisor:
    the kernel spreads connections over the workers, a dead worker is restarted). Each process
    has its own GIL, micro-batcher and model copy, with cores / N torch threads; it loads the
    bundle before it accepts connections, and ``/metrics`` sums all workers."""
    spec = json.loads(os.environ[SERVE_ENV])
    bundle = Path(spec.pop("bundle"))
    cfg = ServiceConfig(**spec)
    return bundle_app(bundle, cfg, model_threads(cfg.workers))


def bundle_app(bundle: Path, cfg: ServiceConfig, threads: int) -> FastAPI:
    """The app of one serving process that is not the CLI's own (a ``--workers`` worker, a
    ``--replicas`` replica): ``threads`` torch threads, the bundle loaded before the app exists,
    so the process takes no traffic until it can score."""
    import torch

    torch.set_num_threads(threads)
    predictor = Predictor.load(bundle)
    return create_app(lambda: predictor, cfg)


def serve_in_thread(app: FastAPI, host: str = "127.0.0.1") -> tuple[Any, int]:
    """Run ``app`` on a free port in a daemon thread (tests, benchmarks); returns (server, port)."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started and server.servers:
            return server, server.servers[0].sockets[0].getsockname()[1]
        time.sleep(0.01)
    raise RuntimeError("service did not start")

