"""Training, export and scoring meet only through the bundle (features artifact + weights)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys.data import raw
from recsys.data.dataset_dir import open_dataset
from recsys.data.splits import TRAIN, SplitAssigner
from recsys.errors import BundleError
from recsys.export.bundle import export_bundle
from recsys.scoring.predictor import Predictor
from recsys.stats import roc_auc
from recsys.training.job import run_training
from recsys.training.runconfig import resolve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle(criteo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("bundle")
    cfg = resolve("deepfm", overrides={"batch_size": 1024, "dnn_hidden_units": [32], "epochs": 2})
    run_training(criteo_data, base / "run", cfg, progress=False)
    export_bundle(base / "run", base / "bundle")
    return base / "bundle"


@pytest.mark.parametrize("encoding", ["vocab", "hash"])
def test_scoring_encodes_raw_rows_exactly_as_prepare(synth_criteo: tuple[Path, dict], criteo_data: Path,
                                                     hashed_data: Path, encoding: str) -> None:
    from recsys.features.fitted import FittedFeatures

    data = criteo_data if encoding == "vocab" else hashed_data
    features = FittedFeatures.load(data / "features")  # what a bundle carries
    cfg = features.dataset
    block, first, _ = next(raw.iter_line_blocks(synth_criteo[0], raw.SourceFile("x"), block_bytes=1 << 20))
    good, _ = raw.parse_block(block, first, 0, cfg)
    codes = SplitAssigner(cfg.split, [0]).codes(good[raw.FILE_NO].to_numpy(), good[raw.LINE_NO].to_numpy())
    encoded = features.encode(raw.typed_columns(good, cfg)).filter(pl.Series(codes == TRAIN))
    prepared = pl.read_parquet(open_dataset(data).split_files("train")).head(encoded.height)
    assert encoded.equals(prepared)


def test_unified_bundle_scores_like_training(hashed_data: Path, tmp_path: Path) -> None:
    """Salted unified buckets are computed inside the model, so the bundle hashes identically."""
    cfg = resolve("dcnv2", overrides={"batch_size": 1024, "dnn_hidden_units": [32], "embedding": "unified",
                                      "embedding_budget": "0.25MB", "chunks": 2})
    metrics = run_training(hashed_data, tmp_path / "run", cfg, progress=False)
    export_bundle(tmp_path / "run", tmp_path / "bundle")
    predictor = Predictor.load(tmp_path / "bundle")
    test = pl.read_parquet(open_dataset(hashed_data).split_files("test"))
    ids = np.stack([test[c].to_numpy() for c in predictor.categorical])
    batch = predictor._batcher.to_batch(np.zeros((test.height, 0), np.float32), ids, np.zeros(test.height, np.float32))
    import torch

    with torch.no_grad():  # metrics and scores are fp32 whatever the training precision
        scores = torch.sigmoid(predictor.model(batch.dense, batch.sparse).logits.float()).numpy()
    assert roc_auc(scores, test["label"].to_numpy()) == pytest.approx(metrics["test"]["auc"], abs=1e-6)


def test_score_file_keeps_input_order_and_ranks_clicks(synth_criteo: tuple[Path, dict], bundle: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    result = Predictor.load(bundle).score_files([synth_criteo[0]], "criteo", out)
    scores = pl.read_parquet(out)
    assert result.rows == scores.height == 40_000 and scores["row"].to_list() == list(range(40_000))
    labels = np.array([int(line[0]) for line in synth_criteo[0].read_text().splitlines()])
    assert roc_auc(scores["score"].to_numpy(), labels) > 0.65


def test_score_command_prints_only_its_summary(synth_criteo: tuple[Path, dict], bundle: Path, tmp_path: Path) -> None:
    """No library warnings in a user's terminal (torch.fx used to warn about its own API on the
    first KeyedJaggedTensor a scoring process built)."""
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "score", str(bundle), str(synth_criteo[0]),
                           "--format", "criteo", "--out", str(tmp_path / "s.parquet")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("scored 40,000 rows") and proc.stderr == ""


def test_bad_rows_keep_their_place_with_null_scores(bundle: Path, tmp_path: Path) -> None:
    good = "\t".join(["1"] + ["1"] * 13 + ["68fd1e64"] * 26)
    path = tmp_path / "in.tsv"
    path.write_text(f"{good}\n2\tbad\n{good}\n")
    out = tmp_path / "s.parquet"
    result = Predictor.load(bundle).score_files([path], "criteo", out)
    scores = pl.read_parquet(out)
    assert result.rejected == 1 and scores["row"].to_list() == [0, 1, 2]
    assert scores["score"].is_null().to_list() == [False, True, False]


def test_bundle_with_changed_features_is_refused(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    features = json.loads((copy / "features" / "features.json").read_text())
    features["dataset"]["min_count"] = 7
    (copy / "features" / "features.json").write_text(json.dumps(features))
    with pytest.raises(BundleError, match="hash mismatch"):
        Predictor.load(copy)


def test_ray_scoring_of_several_files_equals_single_process(bundle: Path, synth_criteo: tuple[Path, dict],
                                                            tmp_path: Path) -> None:
    """``recsys score --workers 2``: Ray Data actors score files in parallel; the output is the
    single-process output (same rows, same order, same scores, rejected rows kept as nulls)."""
    from pipelines.score import main

    lines = synth_criteo[0].read_text().splitlines(keepends=True)[:9000]
    lines[1234] = "not a criteo row\n"
    files = []
    for i, (a, b) in enumerate([(0, 4000), (4000, 4001), (4001, 9000)]):
        files.append(tmp_path / f"part{i}.tsv")
        files[-1].write_text("".join(lines[a:b]))
    args = [str(bundle), *map(str, files), "--format", "criteo", "--out"]
    single = main([*args, str(tmp_path / "single.parquet")])
    spread = main([*args, str(tmp_path / "ray.parquet"), "--workers", "2"])
    a, b = pl.read_parquet(tmp_path / "single.parquet"), pl.read_parquet(tmp_path / "ray.parquet")
    assert single.rows == spread.rows == 9000 and single.rejected == spread.rejected == 1
    assert a.equals(b) and a["row"].to_list() == list(range(9000)) and a["score"].null_count() == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no parts left behind


def test_bundle_written_with_the_old_embedding_keys_still_loads(bundle: Path, tmp_path: Path) -> None:
    """Bundles exported before the ``strategy`` / ``budget`` keys were renamed ``embedding`` /
    ``embedding_budget`` (2026-12-02) load and score the same."""
    copy = tmp_path / "old"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    renamed = {"embedding": "strategy", "embedding_budget": "budget"}
    manifest["embedding"] = {renamed.get(k, k): v for k, v in manifest["embedding"].items()}
    assert "strategy" in manifest["embedding"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    rows = pl.DataFrame({"I1": ["3", ""], "C1": ["68fd1e64", "x"]})
    new, old = Predictor.load(bundle), Predictor.load(copy)
    frame = rows.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in new.features.dataset.columns
                               if c not in rows.columns]).select(new.features.dataset.columns)
    typed = raw.typed_columns(frame.with_columns(pl.col(new.features.dataset.label).fill_null("0")), new.features.dataset)
    assert np.array_equal(new.score_typed(typed), old.score_typed(typed))


def test_the_score_timeline_benchmark_scores_every_row(bundle: Path, synth_criteo: tuple[Path, dict]) -> None:
    raw_file = synth_criteo[0]
    rows = sum(1 for _ in open(raw_file))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "score_timeline.py"), str(bundle), str(raw_file),
                           "--batch-rows", "1000"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"({rows:,} rows" in proc.stdout and "imports done" in proc.stdout and "total" in proc.stdout


def test_encoded_blocks_keep_only_line_numbers_and_narrow_ids(bundle: Path, synth_criteo: tuple[Path, dict]) -> None:
    """Blocks waiting for the model (``recsys score`` lets 8 wait) hold no raw text and keep
    vocabulary ids in int32; the scores are those of int64 ids."""
    predictor = Predictor.load(bundle)
    block = next(iter(predictor.bundle.blocks([synth_criteo[0]], "criteo")))
    assert block.good_lines.columns == block.bad_lines.columns == [raw.FILE_NO, raw.LINE_NO]
    assert block.ids.dtype == np.int32 and block.ids.shape == (len(predictor.categorical), block.good_lines.height)
    wide = predictor.score_arrays(block.dense, block.ids.astype(np.int64))
    assert np.array_equal(predictor.score_arrays(block.dense, block.ids), wide)
