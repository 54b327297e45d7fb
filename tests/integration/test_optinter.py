"""OptInter end to end: search -> retrain the chosen pairs -> export -> score; OutRank-seeded candidates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from recsys.data.dataset_dir import open_dataset
from recsys.export.bundle import export_bundle
from recsys.scoring.predictor import Predictor
from recsys.training.evaluate import load_run_model
from recsys.embeddings.schema import FeatureSchema
from recsys.training.job import run_training
from recsys.training.runconfig import resolve

# 48k training rows at batch 1024 = 47 steps: the paper's per-search totals (docs/models.md):
# arch lr x steps ~ 9, anneal rate x steps ~ 0.44, over two search epochs.
SEARCH = {"batch_size": 1024, "dnn_hidden_units": [64, 64], "optinter_search_epochs": 2,
          "optinter_arch_learning_rate": 0.1, "optinter_anneal_rate": 0.005, "optinter_cross_budget": "20000rows",
          "optinter_pairs": [["C1", "C2"], ["C1", "C3"], ["C3", "C4"], ["C4", "C5"], ["C2", "C5"], ["C3", "C5"]]}


@pytest.fixture(scope="module")
def searched(cross_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("optinter") / "run"
    return run, run_training(cross_data, run, resolve("optinter", overrides=SEARCH), progress=False)


def test_the_planted_cross_is_modelled_and_noise_pairs_are_not_memorized(searched: tuple[Path, dict]) -> None:
    """C1 x C2 decides the click (XOR-like); C3..C5 are noise."""
    run, metrics = searched
    methods = pl.read_csv(run / "optinter" / "methods.tsv", separator="\t")
    assert methods.columns == ["FeatureA", "FeatureB", "method", "alpha_memorize", "alpha_factorize", "alpha_naive"]
    chosen = {(a, b): m for a, b, m in methods.select("FeatureA", "FeatureB", "method").iter_rows()}
    assert chosen[("C1", "C2")] in ("memorize", "factorize")
    assert metrics["test"]["auc"] > 0.75
    assert sum(metrics["optinter"][m] for m in ("memorize", "factorize", "naive")) == 6
    assert (run / "optinter" / "methods.png").read_bytes()[:4] == b"\x89PNG"


def test_the_retrained_model_holds_only_what_was_chosen(searched: tuple[Path, dict]) -> None:
    run, metrics = searched
    config = json.loads((run / "config.json").read_text())
    cfg = config["model_cfg"]
    assert cfg["optinter_mode"] == "fixed" and len(cfg["optinter_methods"]) == 6
    memorized = sum(1 for m in cfg["optinter_methods"] if m == "memorize")
    weights = torch.load(run / "model.pt", weights_only=True)
    cross = [v for k, v in weights.items() if "optinter_cross" in k]
    assert (cross[0].shape[0] if cross else 0) == (20000 // 6) * memorized
    assert metrics["params"] < metrics["optinter"]["all_memorize"]["params"]


def test_bundle_scores_equal_the_retrained_model(searched: tuple[Path, dict], cross_data: Path, tmp_path: Path) -> None:
    run, _ = searched
    export_bundle(run, tmp_path / "bundle")
    predictor = Predictor.load(tmp_path / "bundle")
    info = open_dataset(cross_data)
    model, _ = load_run_model(run, FeatureSchema.from_manifest(info.manifest))
    test = pl.read_parquet(info.split_files("test"))
    ids = np.stack([test[c].to_numpy() for c in predictor.categorical])
    batch = predictor._batcher.to_batch(np.zeros((test.height, 0), np.float32), ids, np.zeros(test.height, np.float32))
    with torch.no_grad():
        direct = torch.sigmoid(model(batch.dense, batch.sparse).logits.float()).numpy()
        bundled = torch.sigmoid(predictor.model(batch.dense, batch.sparse).logits.float()).numpy()
    assert np.abs(direct - bundled).max() <= 1e-6


def test_candidates_from_a_rank_report_find_the_planted_pair(cross_data: Path, tmp_path: Path) -> None:
    from recsys.training.runconfig import with_candidates
    from recsys.ranking.candidates import top_pairs
    from recsys.ranking.rank import rank_dataset

    rank_dataset(cross_data, tmp_path / "report")
    assert ("C1", "C2") in top_pairs(tmp_path / "report" / "relations.tsv", 3)
    assert ("C1", "C2") in top_pairs(tmp_path / "report" / "pairwise_ranks.tsv", 3)
    cfg = with_candidates(resolve("optinter", overrides={"optinter_candidates_top_k": 4}),
                          tmp_path / "report" / "relations.tsv")
    assert len(cfg.model_cfg.optinter_pairs) == 4 and ("C1", "C2") in cfg.model_cfg.optinter_pairs


def test_bilevel_search_steps_alpha_on_validation_batches(cross_data: Path, tmp_path: Path) -> None:
    """optinter_bilevel: alpha follows validation gradients; the planted pair is still modelled."""
    cfg = resolve("optinter", overrides={**SEARCH, "optinter_bilevel": True, "epochs": 1})
    metrics = run_training(cross_data, tmp_path / "run", cfg, progress=False)
    methods = pl.read_csv(tmp_path / "run" / "optinter" / "methods.tsv", separator="\t")
    first = methods.row(0, named=True)
    assert (first["FeatureA"], first["FeatureB"]) == ("C1", "C2") and first["method"] != "naive"
    assert metrics["test"]["auc"] > 0.75


def test_bilevel_gradient_is_the_validation_batch_gradient(cross_data: Path) -> None:
    from types import SimpleNamespace

    from recsys.data.loader import BatchLoader
    from recsys.embeddings.schema import FeatureSchema
    from recsys.models.registry import build_model
    from recsys.tasks.ctr import CTRTask
    from recsys.training.optinter import BilevelArch

    info = open_dataset(cross_data)
    schema = FeatureSchema.from_manifest(info.manifest)
    cfg = resolve("optinter", overrides=SEARCH)
    model = build_model("optinter", cfg.model_cfg, cfg.embedding, schema, torch.device("cpu"))
    val = BatchLoader(info.split_files("val"), list(schema.dense), list(schema.categorical), 512)
    hook = BilevelArch(model, val, torch.device("cpu"))
    import contextlib

    hook(SimpleNamespace(model=model, _autocast=contextlib.nullcontext))
    batch = next(iter(val))
    expected = torch.autograd.grad(CTRTask().loss(model(batch.dense, batch.sparse), batch.labels),
                                   [model.mixture.arch_alpha])[0]
    train = next(iter(BatchLoader(info.split_files("train"), list(schema.dense), list(schema.categorical), 512)))
    CTRTask().loss(model(train.dense, train.sparse), train.labels).backward()
    assert torch.allclose(model.mixture.arch_alpha.grad, expected, atol=1e-6)
