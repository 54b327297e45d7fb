"""OptFS end to end: search -> rewind -> retrain on pruned tables -> export -> score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from recsys.data.dataset_dir import open_dataset
from recsys.data.loader import BatchLoader
from recsys.embeddings.prune import field_embeddings
from recsys.embeddings.schema import FeatureSchema
from recsys.export.bundle import export_bundle
from recsys.scoring.predictor import Predictor
from recsys.training import checkpoint as ckpt
from recsys.training.evaluate import load_run_model
from recsys.stats import roc_auc
from recsys.training.job import run_training
from recsys.training.loop import score_loader
from recsys.training.runconfig import resolve

FAST = {"batch_size": 1024, "dnn_hidden_units": [32], "optfs": True, "optfs_search_epochs": 3,
        "optfs_learning_rate": 0.05, "optfs_lambda": 1e-6, "optfs_final_tau": 50.0}


@pytest.fixture(scope="module")
def optfs_run(criteo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("optfs") / "run"
    metrics = run_training(criteo_data, run, resolve("deepfm", overrides=FAST), progress=False)
    return run, metrics


def test_the_run_reports_its_search_and_pruning(optfs_run: tuple[Path, dict]) -> None:
    run, metrics = optfs_run
    assert metrics["embedding_bytes"] < metrics["embedding_bytes_unpruned"]
    assert 0 < metrics["optfs"]["kept_rows"] < metrics["optfs"]["total_rows"]
    search = pl.read_csv(run / "optfs" / "search.tsv", separator="\t")
    assert search.columns == ["epoch", "tau", "kept_fraction", "val_auc"]
    assert search["tau"].to_list() == pytest.approx([1.0, 50 ** 0.5, 50.0])
    fields = pl.read_csv(run / "optfs" / "fields.tsv", separator="\t")
    assert fields.columns == ["field", "values", "kept", "kept_fraction", "traffic_kept"]
    assert fields.height == 39 and (fields["kept"] <= fields["values"]).all()
    assert ((fields["traffic_kept"] >= 0) & (fields["traffic_kept"] <= 1)).all()
    assert (run / "optfs" / "fields.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["optfs"] == metrics["optfs"]


def test_pruned_rows_are_absent_from_the_saved_tables(optfs_run: tuple[Path, dict]) -> None:
    run, metrics = optfs_run
    config = json.loads((run / "config.json").read_text())
    weights = ckpt.load(run / "model.pt")
    tables = {k.split(".")[-2]: v for k, v in weights.items() if k.endswith(".weight") and "embedding_bags" in k}
    assert set(tables) == set(config["pruned_tables"])
    for name, rows in config["pruned_tables"].items():
        assert tables[name].shape[0] == rows
    assert not any("optfs_gate" in k for k in weights)
    assert sum(t.numel() * 4 for t in tables.values()) == metrics["embedding_bytes"]


def test_pruned_bundle_scores_equal_the_retrained_model(optfs_run: tuple[Path, dict], criteo_data: Path,
                                                        synth_criteo: tuple[Path, dict], tmp_path: Path) -> None:
    """The bundle (small tables + row maps) scores the test rows as the trained model did, and
    raw rows scored from the file equal the prepared rows scored in process."""
    run, metrics = optfs_run
    export_bundle(run, tmp_path / "bundle")
    predictor = Predictor.load(tmp_path / "bundle")
    info = open_dataset(criteo_data)
    schema = FeatureSchema.from_manifest(info.manifest)
    test = BatchLoader(info.split_files("test"), list(schema.dense), list(schema.categorical), 1 << 20)
    evaluated = score_loader(predictor.model, test, torch.device("cpu"))
    assert evaluated.auc == pytest.approx(metrics["test"]["auc"], abs=1e-6)
    model, _ = load_run_model(run, schema)
    train = pl.read_parquet(info.split_files("train")).head(2000)
    result = predictor.score_files([synth_criteo[0]], "criteo", tmp_path / "scores.parquet")
    scores = pl.read_parquet(tmp_path / "scores.parquet")["score"].to_numpy()
    labels = np.array([int(line[0]) for line in synth_criteo[0].read_text().splitlines()])
    assert result.rows == len(labels) and roc_auc(scores, labels) > 0.65
    ids = np.stack([train[c].to_numpy() for c in predictor.categorical])
    batch = predictor._batcher.to_batch(np.zeros((train.height, 0), np.float32), ids, np.zeros(train.height, np.float32))
    with torch.no_grad():
        direct = torch.sigmoid(model(batch.dense, batch.sparse).logits.float()).numpy()
        bundled = torch.sigmoid(predictor.model(batch.dense, batch.sparse).logits.float()).numpy()
    assert np.abs(direct - bundled).max() <= 1e-6
    sizes = {t.name: t.num_embeddings for _, _, fe in field_embeddings(predictor.model) for t in fe.plan.tables}
    assert sizes == json.loads((run / "config.json").read_text())["pruned_tables"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """200k synthetic Criteo rows (160k for training) with known noise and informative fields."""
    from recsys.data.prepare import prepare_dataset
    from recsys.data.synth import write_synthetic
    from recsys.features.spec import load_dataset_config

    base = tmp_path_factory.mktemp("planted")
    truth = write_synthetic("criteo", 200_000, base / "raw.tsv", seed=11)
    prepare_dataset([base / "raw.tsv"], load_dataset_config("criteo"), base / "data", "criteo")
    return base / "data", truth


def test_optfs_prunes_planted_noise_and_keeps_informative_traffic(planted: tuple[Path, dict], tmp_path: Path) -> None:
    """The scaling rule of docs/models.md for 160k training rows (39 steps per epoch): the big
    noise fields lose most rows, informative fields keep far more, bytes halve, AUC holds."""
    data, truth = planted
    base = {"epochs": 1, "dnn_hidden_units": [64, 64]}
    plain = run_training(data, tmp_path / "plain", resolve("deepfm", overrides=base), progress=False)
    rows = open_dataset(data).manifest["splits"]["train"]
    rule = {"optfs": True, "optfs_search_epochs": 3, "optfs_rewind_epoch": 0, "optfs_lambda": 0.18 / rows,
            "optfs_learning_rate": 0.25 / (2 * rows / 4096) ** 0.5}
    pruned = run_training(data, tmp_path / "optfs", resolve("deepfm", overrides={**base, **rule}), progress=False)
    fields = {r["field"]: r for r in pl.read_csv(tmp_path / "optfs" / "optfs" / "fields.tsv", separator="\t").to_dicts()}
    big_noise = [f for f in truth["noise"] if fields[f]["values"] > 5000]
    informative = [f for f in truth["informative"] if f.startswith("C") and fields[f]["values"] >= 100]
    assert len(big_noise) >= 4 and len(informative) >= 6
    assert all(fields[f]["kept_fraction"] < 0.15 for f in big_noise), {f: fields[f] for f in big_noise}
    # Most informative fields keep most of their traffic (one value can carry 44% of it: missing).
    assert np.median([fields[f]["traffic_kept"] for f in informative]) > 0.5
    noise_kept = np.mean([fields[f]["kept_fraction"] for f in big_noise])
    assert np.mean([fields[f]["kept_fraction"] for f in informative]) > 3 * noise_kept
    assert pruned["embedding_bytes"] <= pruned["embedding_bytes_unpruned"] / 2
    # AUC holds: the one-epoch retrain of the pruned model on 160k rows (20k test rows) trails
    # the plain run by 0.0021-0.0055 over four seeds since the dense layers start Xavier-normal
    # (2026-12-02; mean -0.0034, this seed -0.0055); at 1M rows see docs/benchmarks.md (OptFS).
    # With the epoch's short last batch weighted (later that day) both runs gained, the plain
    # one a little more: plain 0.7406 -> 0.7446, pruned 0.7352 -> 0.7382 (this seed -0.0065).
    assert pruned["test"]["auc"] >= plain["test"]["auc"] - 0.007
