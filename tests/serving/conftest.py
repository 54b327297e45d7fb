"""Shared by the service tests: tiny bundles, a uvicorn server on loopback, a raw HTTP client."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any, Iterator

import polars as pl
import pytest

from recsys.data import raw
from recsys.data.synth import write_synthetic
from recsys.export.bundle import export_bundle
from recsys.scoring.predictor import Predictor
from recsys.scoring.rows import json_rows_frame
from recsys.training.job import run_training
from recsys.training.runconfig import resolve
from serving.app import ServiceConfig, create_app, serve_in_thread

SMALL = {"epochs": 1, "batch_size": 512, "embedding_dim": 8, "threads": 2}


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 synthetic Criteo rows (raw TSV)."""
    path = tmp_path_factory.mktemp("svc") / "criteo.tsv"
    write_synthetic("criteo", 3_000, path, seed=11)
    return path


def prepared(raw_file: Path, out: Path, fmt: str) -> Path:
    from recsys.data.prepare import prepare_dataset
    from recsys.features.spec import load_dataset_config

    prepare_dataset([raw_file], load_dataset_config(fmt), out, fmt)
    return out


def bundle_for(data: Path, base: Path, model: str, strategy: str) -> Path:
    """Train ``model`` small for one epoch under ``strategy`` and export it."""
    overrides: dict[str, Any] = {**SMALL, "embedding": strategy}
    if model not in ("lr", "fm"):
        overrides["dnn_hidden_units"] = [16]
    if strategy != "vocab":
        overrides["embedding_budget"] = "64KB"
    if model == "optinter":
        overrides.update(optinter_cross_budget="2000rows", optinter_search_epochs=1)
    run_training(data, base / "run", resolve(model, overrides=overrides), progress=False)
    export_bundle(base / "run", base / "bundle")
    return base / "bundle"


def raw_rows(raw_file: Path, fmt: str, n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows of a raw file as JSON request rows (empty values left out)."""
    from recsys.features.spec import load_dataset_config

    cfg = load_dataset_config(fmt)
    frame = next(raw.read_blocks(raw_file, raw.SourceFile(str(raw_file)), cfg, fmt, 0))()[0].head(n)
    return [{k: v for k, v in r.items() if k in cfg.columns and v not in (None, "")} for r in frame.to_dicts()]


def typed(predictor: Predictor, rows: list[dict[str, Any]]) -> pl.DataFrame:
    return json_rows_frame(rows, predictor.features.dataset)


class Client:
    """Raw HTTP/1.1 on loopback (http.client), and raw sockets for malformed requests."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if "json" in resp.getheader("content-type", "") else data
        finally:
            conn.close()

    def score(self, rows: Any) -> tuple[int, Any]:
        return self.request("POST", "/score", json.dumps({"rows": rows}).encode(), {"Content-Type": "application/json"})

    def raw(self, payload: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(payload)
            return s.recv(65536)


@pytest.fixture()
def serve() -> Iterator[Any]:
    """``serve(predictor, **limits) -> Client`` once the service is ready; stopped after the test."""
    servers = []

    def start(predictor: Predictor, **cfg: Any) -> Client:
        server, port = serve_in_thread(create_app(lambda: predictor, ServiceConfig(**cfg)))
        servers.append(server)
        client = Client(port)
        for _ in range(500):
            if client.request("GET", "/readyz")[0] == 200:
                return client
        raise AssertionError("service never became ready")

    yield start
    for s in servers:
        s.should_exit = True
