"""The benchmark scripts run end to end on tiny data (their figures are what the notes cite)."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_ingest_benchmark_prints_rows_per_second_and_ratio(tmp_path: Path) -> None:
    out = _run("ingest.py", "--rows", "3000", "--repeat", "2", "--out", str(tmp_path))
    header, row = out.strip().splitlines()[:2]
    assert "recsys_rows_s" in header and "speedup" in header
    assert row.split()[0] == "3000" and "-" in row.split()[-2]  # the ratio range of the two pairs


def test_models_benchmark_trains_and_tabulates(tmp_path: Path) -> None:
    out = _run("models.py", "--rows", "4000", "--models", "lr", "--out", str(tmp_path))
    assert "oracle AUC of the file" in out and out.strip().splitlines()[-1].startswith("lr ")


def test_optfs_benchmark_compares_plain_and_pruned_runs(tmp_path: Path) -> None:
    out = _run("optfs.py", "--rows", "6000", "--models", "lr", "--epochs", "1", "--out", str(tmp_path))
    assert "OptFS flags: --optfs" in out and "lr_vocab: test AUC" in out and "deepfm_unified: test AUC" in out
    assert (tmp_path / "optfs.csv").read_text().count("\n") == 5


def test_optinter_benchmark_runs_every_case(tmp_path: Path) -> None:
    out = _run("optinter.py", "--rows", "5000", "--out", str(tmp_path))
    assert "OutRank-seeded search:" in out and "optinter all memorize" in out
    assert (tmp_path / "optinter.csv").read_text().count("\n") == 6
    # the step benchmark on the same data and rank report, with the pair-free split
    out = _run("optinter_search_speed.py", str(tmp_path / "data_5000_vocab"),
               str(tmp_path / "optinter_rank" / "relations.tsv"), "--top-k", "5", "--batches", "1", "--rounds", "1",
               "--naive", "--deepfm")
    assert "pair-free    median" in out and "per pair: all pairs" in out and "needs A <=" in out
    assert "both targets need a seeded step <= 4/3 DeepFM's" in out


def test_dense_optimizer_benchmark_times_three_adams() -> None:
    out = _run("dense_optimizer.py", "--in-width", "24", "--units", "8", "--rounds", "1", "--steps", "2")
    assert [line.split()[4] for line in out.strip().splitlines()] == ["default", "foreach", "fused"]


def test_sparse_optimizer_benchmark_times_three_fused_optimizers() -> None:
    out = _run("sparse_optimizer.py", "--batch", "64", "--rounds", "1", "--scale", "0.01")
    lines = out.strip().splitlines()
    assert lines[0].startswith("torch CPU capability:") and "ns / distinct row" in lines[1]
    assert [line.split()[-4] for line in lines[2:5]] == ["rowwise_adagrad", "adagrad", "sgd"] and len(lines) == 2 + 8 * 3
    assert "one per key" in lines[2] and "one shared" in lines[5]


def test_sse_avx_transition_benchmark_times_three_loops() -> None:
    if platform.machine() not in ("x86_64", "AMD64") or shutil.which("cc") is None:
        pytest.skip("the probe is x86-64 inline assembly compiled with `cc`: not this machine")
    lines = _run("sse_avx_transition.py", "--iters", "1000").strip().splitlines()
    assert [line.split(" after ")[0] for line in lines[:3]] == ["legacy SSE", "VEX scalar", "legacy SSE"]
    assert all(float(line.split()[-4]) > 0 for line in lines[:3]) and lines[3].endswith("x")


def test_gemm_shapes_benchmark_times_every_variant() -> None:
    out = _run("gemm_shapes.py", "--batch", "64", "--out-width", "8", "--widths", "16", "--rounds", "1")
    from recsys.layers.linear import onednn_enabled

    assert out.count("K=   16") == 6 + 3 * onednn_enabled() and "dW = (x^T g)^T" in out and "GFLOP/s" in out
    assert ("dX = g W (oneDNN)" in out) == onednn_enabled()


def test_gemm_shapes_benchmark_times_bf16_operands() -> None:
    out = _run("gemm_shapes.py", "--batch", "64", "--out-width", "8", "--widths", "16", "--rounds", "1",
               "--dtype", "bfloat16")
    assert out.count("K=   16") == 6 and "oneDNN" not in out


def test_onednn_benchmark_compares_both_kernels() -> None:
    from recsys.layers.linear import onednn_enabled

    if not onednn_enabled():
        pytest.skip("this PyTorch has no oneDNN linear")
    out = _run("onednn.py", "--rows", "64", "--rounds", "1")
    assert out.count("MLP forward, 64 rows") == 2 and "largest difference" in out


def test_teardown_benchmark_times_plain_and_frozen_exits() -> None:
    lines = _run("teardown.py", "--rounds", "1").strip().splitlines()
    assert [line.split()[0] for line in lines] == ["plain", "frozen"]
    assert all(float(line.split()[3]) >= 0 for line in lines)
