"""``recsys serve --replicas N``: the same app on Ray Serve replicas scores like the model in process,
answers bad rows the same way, and shuts down on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.scoring.predictor import Predictor
from serving.probe import wait_ready
from tests.serving.conftest import Client, bundle_for, prepared, raw_rows, typed
from tests.serving.test_workers import _free_port

pytest.importorskip("ray.serve", reason="ray[serve] is not installed (make venv installs it)")


@pytest.fixture(scope="module")
def bundle(tiny_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("replicas")
    return bundle_for(prepared(tiny_raw, base / "data", "criteo"), base, "deepfm", "vocab")


def test_two_ray_serve_replicas_score_like_the_model(bundle: Path, tiny_raw: Path) -> None:
    subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], capture_output=True)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", str(bundle), "--port", str(port),
                             "--replicas", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_ready(port, timeout_s=180, alive=lambda: proc.poll() is None), \
            proc.stderr.read().decode()[-3000:] if proc.stderr else ""
        predictor = Predictor.load(bundle)
        rows: list[dict[str, Any]] = raw_rows(tiny_raw, "criteo", 30)
        expected = predictor.score_typed(typed(predictor, rows))
        client = Client(port)
        for k in range(3):
            status, body = client.score(rows[10 * k:10 * k + 10])
            assert status == 200, body
            assert np.max(np.abs(np.array(body["scores"]) - expected[10 * k:10 * k + 10])) <= 1e-6
        status, body = client.score([{"C99": "x"}])
        assert status == 422 and body["field"] == "C99", body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
