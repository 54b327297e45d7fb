"""Logits, metrics and scores are fp32 for every model, also when hidden layers run in bf16."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recsys.data.dataset_dir import open_dataset
from recsys.data.loader import BatchLoader
from recsys.embeddings.schema import FeatureSchema
from recsys.training.evaluate import load_run_model
from recsys.training.loop import score_loader
from tests.integration.test_training import SHAPES, _train

MODELS = ["lr", "fm", "dnn", "deepfm", "dcnv2", "ipnn", "autoint", "autoint+", "fgcnn", "optinter"]


@pytest.mark.parametrize("model", MODELS)
def test_bf16_trained_models_give_fp32_scores(criteo_data: Path, tmp_path: Path, model: str) -> None:
    # bf16 forced: "auto" is fp32 on CPUs without native bf16 (AVX2-only), where this test
    # must run too (emulated bf16 kernels: slower, the same rounding).
    over = {"dnn_hidden_units": [64, 64], "mixed_precision": "bf16", **SHAPES.get(model, {})}
    if model == "optinter":
        over.update(optinter_search_epochs=1, optinter_cross_budget="20000rows")
    metrics = _train(criteo_data, tmp_path / "run", model, epochs=1, **over)
    assert metrics["precision"] == "bf16"
    info = open_dataset(criteo_data)
    schema = FeatureSchema.from_manifest(info.manifest)
    net, _ = load_run_model(tmp_path / "run", schema)
    test = BatchLoader(info.split_files("test"), list(schema.dense), list(schema.categorical), 1 << 20)
    batch = next(iter(test))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = net.eval()(batch.dense, batch.sparse).logits
    assert logits.dtype == torch.float32
    assert logits.unique().numel() >= 0.99 * batch.batch_size  # not a few thousand bf16 values
    fp32 = score_loader(net, test, torch.device("cpu"))
    assert fp32.auc == pytest.approx(metrics["test"]["auc"], abs=1e-4)  # evaluation is fp32 too: equal
