"""``recsys serve --workers N``: worker processes score like the model in process, keep-alive
answers are not held back by Nagle's algorithm, and ``/metrics`` sums every worker."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn

from recsys.scoring.predictor import Predictor
from serving.app import tcp_listener
from serving.probe import wait_ready
from tests.serving.conftest import Client, bundle_for, prepared, raw_rows, typed


def test_worker_listener_is_tcp_so_accepted_sockets_get_nodelay() -> None:
    """uvicorn's own ``bind_socket`` leaves ``proto`` 0 and asyncio then skips TCP_NODELAY
    (uvicorn#3149): every keep-alive request after the first waited for a delayed ACK."""
    config = uvicorn.Config("serving.app:worker_app", host="127.0.0.1", port=0)
    bound = config.bind_socket()
    assert bound.proto == 0  # the upstream behaviour this works around; if it fails, drop the workaround
    listener = tcp_listener(bound)
    try:
        listener.listen(8)
        with socket.create_connection(listener.getsockname()[:2]):
            conn, _ = listener.accept()
            assert (listener.proto, conn.proto) == (socket.IPPROTO_TCP, socket.IPPROTO_TCP)
            conn.close()
    finally:
        listener.close()


@pytest.fixture(scope="module")
def bundle(tiny_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("workers")
    return bundle_for(prepared(tiny_raw, base / "data", "criteo"), base, "deepfm", "vocab")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_worker_processes_score_like_the_model(bundle: Path, tiny_raw: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", str(bundle), "--port", str(port),
                             "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_ready(port, alive=lambda: proc.poll() is None), proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        predictor = Predictor.load(bundle)
        rows: list[dict[str, Any]] = raw_rows(tiny_raw, "criteo", 40)
        expected = predictor.score_typed(typed(predictor, rows))
        client = Client(port)
        for k in range(8):  # new connections: the kernel hands them to either worker
            status, body = client.score(rows[5 * k:5 * k + 5])
            assert status == 200, body
            assert np.max(np.abs(np.array(body["scores"]) - expected[5 * k:5 * k + 5])) <= 1e-6
        status, text = client.request("GET", "/metrics")
        scored = re.search(rb"^recsys_rows_scored_total (\S+)$", text, re.M)
        assert status == 200 and scored is not None and float(scored.group(1)) == 40.0, text[:2000]
        pids = {int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                text=True).stdout.split()}
        assert len(pids) >= 2  # uvicorn's supervisor runs the workers as child processes
    finally:
        proc.terminate()
        proc.wait(timeout=30)
