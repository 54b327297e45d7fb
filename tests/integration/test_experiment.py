"""``recsys experiment`` end to end on Ray Tune: a test-sized study killed mid-way and resumed,
a failed run recorded, an ASHA search, the leaderboard and report; ``recsys compare``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from recsys.stats import roc_auc
from recsys.training.predictions import read_predictions

CLI = [sys.executable, "-m", "pipelines.cli"]


def _study(tmp_path: Path, data: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "name": "tiny",
        "dataset": {"data_dir": str(data)},
        "defaults": {"epochs": 1, "batch_size": 2048},
        "runs": [{"model": "lr"}, {"model": "dnn", "dnn_hidden_units": [16]},
                 {"model": "lr", "sparse_optimizer": "adam"}],  # GPU-only: fails on CPU, the study goes on
        "seeds": [1, 2],
        "search": {"trials": 2, "base": {"model": "dnn", "dnn_hidden_units": [16], "epochs": 2},
                   "space": {"learning_rate": {"loguniform": [1e-4, 1e-2]}}},
    }))
    return path


def _kill_after_first_trial(cmd: list[str], exp: Path) -> None:
    """Start the study and SIGKILL its whole process group once one trial is recorded."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            ledger = exp / "trials.json"
            if ledger.is_file() and json.loads(ledger.read_text()):
                break
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_study_resumes_records_failures_and_reports(criteo_data: Path, tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    cmd = CLI + ["experiment", str(_study(tmp_path, criteo_data)), "--out", str(exp), "--concurrent", "2"]
    _kill_after_first_trial(cmd, exp)
    first = json.loads((exp / "trials.json").read_text())
    assert 1 <= len(first) < 8 and not (exp / "leaderboard.csv").exists()
    stamps = {t: (exp / "runs" / t / "metrics.json").stat().st_mtime_ns
              for t, s in first.items() if s["status"] == "finished"}

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"ran {8 - len(first)}, skipped {len(first)} already done" in done.stdout
    status = json.loads((exp / "trials.json").read_text())
    assert len(status) == 8
    for t, stamp in stamps.items():  # finished runs were not run again
        assert (exp / "runs" / t / "metrics.json").stat().st_mtime_ns == stamp
    failed = [s for t, s in status.items() if t.startswith("lr-sparse_optimizer=adam/")]
    assert len(failed) == 2 and all(s["status"] == "failed" and "GPU-only" in s["error"] for s in failed)
    assert (exp / "runs" / "lr-sparse_optimizer=adam" / "seed-1" / "error.txt").is_file()

    board = pl.read_csv(exp / "leaderboard.csv")
    finished = board.filter(pl.col("status") == "finished")
    assert finished["test_auc"].to_list() == sorted(finished["test_auc"].to_list(), reverse=True)
    lr = finished.filter(pl.col("config") == "lr").row(0, named=True)
    per_seed = [json.loads((exp / "runs" / "lr" / f"seed-{s}" / "metrics.json").read_text())["test"]["auc"]
                for s in (1, 2)]
    assert lr["seeds"] == 2 and abs(lr["test_auc"] - np.mean(per_seed)) < 1e-9
    assert abs(lr["test_auc_std"] - np.std(per_seed, ddof=1)) < 1e-9
    assert finished["best_of_model"].sum() == len(set(finished["model"]))
    assert board.filter(pl.col("config") == "lr-sparse_optimizer=adam")["status"].to_list() == ["failed"]
    assert set(board["config"]) >= {"lr", "dnn-dnn_hidden_units=16"} and board.height == 5
    page = (exp / "report.html").read_text()
    assert "<svg" in page and "Leaderboard" in page and "Search" in page and "GPU-only" in page
    assert not any(x in page for x in ('src="http', "<link", "<script", "url(http"))  # self-contained
    assert (exp / "leaderboard.md").read_text().startswith("# Leaderboard: tiny")

    # each trial is a normal RUN_DIR whose saved predictions reproduce its test AUC
    run = exp / "runs" / "lr" / "seed-1"
    p = read_predictions(run)
    assert abs(roc_auc(p.scores, p.labels) - per_seed[0]) < 1e-9 and (p.rows == np.arange(len(p.rows))).all()
    from recsys.export.bundle import export_bundle

    export_bundle(run, tmp_path / "bundle")  # a trial is a normal RUN_DIR
    assert (tmp_path / "bundle" / "manifest.json").is_file()
    same = subprocess.run(CLI + ["compare", str(run), str(run)], capture_output=True, text=True, timeout=120)
    assert same.returncode == 0 and "no significant difference" in same.stdout
    out = json.loads(same.stdout.strip().splitlines()[-1])
    assert out["delta"] == 0 and out["low"] <= 0 <= out["high"]
