"""User errors at the CLI: one line on stderr naming the problem, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--model", "deepctr"], "unknown model 'deepctr'"),
    (["--model", "deepfm", "--set", "hidden_units=[1]"], "unknown config key 'hidden_units'"),
    (["--model", "deepfm", "--set", "use_residual=true"], "unknown config key 'use_residual'"),
])
def test_train_config_errors(criteo_data: Path, tmp_path: Path, args: list[str], message: str) -> None:
    r = _run("train", str(criteo_data), "--out", str(tmp_path / "run"), *args)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_train_on_missing_or_incomplete_data_dir(tmp_path: Path) -> None:
    r = _run("train", str(tmp_path / "nope"), "--model", "lr", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "DATA_DIR not found" in r.stderr
    (tmp_path / "half").mkdir()
    r = _run("train", str(tmp_path / "half"), "--model", "lr", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "no dataset.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1
