"""The training spine end to end on planted data: learning, exactness, repeatability, resume."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from recsys.data.dataset_dir import open_dataset
from recsys.models.registry import lookup
from recsys.training.evaluate import evaluate_run
from recsys.training.job import run_training
from recsys.training.runconfig import resolve

SMALL = {"batch_size": 1024, "dnn_hidden_units": [64, 64]}
MODEL_ONLY = {"dnn_hidden_units", "net_dropout"}


def _train(data: Path, run: Path, model: str, **over: object) -> dict:
    """Train ``model`` small: SMALL settings where the model has them, then ``over``."""
    fields = {f.name for f in dataclasses.fields(lookup(model)[0])}
    merged = {k: v for k, v in {**SMALL, **over}.items() if k in fields or k not in MODEL_ONLY}
    return run_training(data, run, resolve(model, overrides=merged), progress=False)


@pytest.mark.parametrize("model", ["lr", "fm", "dnn", "deepfm"])
def test_baselines_learn_the_planted_signal(criteo_data: Path, tmp_path: Path, model: str) -> None:
    m = _train(criteo_data, tmp_path / model, model, epochs=2)
    assert m["test"]["auc"] > 0.65, m
    assert set(m) >= {"model", "val", "test", "params", "embedding_bytes", "train_samples_per_s", "epochs"}
    history = [json.loads(x) for x in (tmp_path / model / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2] and all("val_auc" in h for h in history)


INTERACTION_MODELS = ["fm", "deepfm", "dcnv2", "ipnn", "autoint", "autoint+", "fgcnn"]
# Small shapes keep the suite fast; the model is the same code at any width.
SHAPES: dict[str, dict[str, object]] = {
    "autoint": {"attention_dim": 8, "attention_layers": 2},
    "autoint+": {"attention_dim": 8, "attention_layers": 2},
    "fgcnn": {"channels": [4, 4], "kernel_heights": [3, 3], "pooling_sizes": [2, 2], "recombined_channels": [1, 1]},
}


@pytest.fixture(scope="module")
def cross_baselines(cross_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """LR and a DNN without hidden layers (embeddings -> one linear layer: no interactions)."""
    base = tmp_path_factory.mktemp("cross_runs")
    lr = _train(cross_data, base / "lr", "lr", epochs=3)["test"]["auc"]
    flat = _train(cross_data, base / "flat", "dnn", epochs=3, dnn_hidden_units=[])["test"]["auc"]
    return {"lr": lr, "flat_dnn": flat}


@pytest.mark.parametrize("model", INTERACTION_MODELS)
def test_interaction_models_beat_models_without_interactions(
        cross_data: Path, tmp_path: Path, cross_baselines: dict[str, float], model: str) -> None:
    auc = _train(cross_data, tmp_path / model, model, epochs=3, dnn_hidden_units=[32], **SHAPES.get(model, {}))["test"]["auc"]
    assert cross_baselines["lr"] < 0.55 and cross_baselines["flat_dnn"] < 0.55
    assert auc > max(cross_baselines.values()) + 0.15, (model, auc, cross_baselines)


def test_same_command_twice_gives_the_same_auc(criteo_data: Path, tmp_path: Path) -> None:
    a = _train(criteo_data, tmp_path / "a", "deepfm", seed=11)
    b = _train(criteo_data, tmp_path / "b", "deepfm", seed=11)
    assert abs(a["test"]["auc"] - b["test"]["auc"]) < 1e-6 and a["test"]["logloss"] == pytest.approx(b["test"]["logloss"], abs=1e-7)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(criteo_data: Path, tmp_path: Path) -> None:
    common = {**SMALL, "patience": 5, "net_dropout": 0.1}
    cfg2 = resolve("deepfm", overrides={**common, "epochs": 2})
    cfg1 = resolve("deepfm", overrides={**common, "epochs": 1})
    run_training(criteo_data, tmp_path / "full", cfg2, progress=False)
    run_training(criteo_data, tmp_path / "part", cfg1, progress=False)
    resumed = run_training(criteo_data, tmp_path / "part", cfg2, resume=True, progress=False)
    full = torch.load(tmp_path / "full" / "checkpoints" / "epoch-2.rank0.pt", weights_only=True)
    part = torch.load(tmp_path / "part" / "checkpoints" / "epoch-2.rank0.pt", weights_only=True)
    assert full.keys() == part.keys()
    assert all(torch.equal(full[k], part[k]) for k in full if k.startswith("model")), "weights differ"
    assert resumed["epochs"] == 2 and len((tmp_path / "part" / "history.jsonl").read_text().splitlines()) == 2


def test_evaluate_reproduces_the_training_metrics(criteo_data: Path, tmp_path: Path) -> None:
    m = _train(criteo_data, tmp_path / "r", "dcnv2")
    e = evaluate_run(tmp_path / "r", criteo_data, "test")
    assert e["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6) and e["rows"] == m["test"]["rows"]
    assert m["test"]["rows"] == open_dataset(criteo_data).manifest["splits"]["test"]


def test_non_finite_loss_stops_with_a_clear_error_and_no_metrics(criteo_data: Path, tmp_path: Path) -> None:
    from recsys.errors import TrainingError

    with pytest.raises(TrainingError, match="non-finite loss"):
        _train(criteo_data, tmp_path / "nan", "lr", sparse_learning_rate=1e38, sparse_optimizer="sgd")
    assert not (tmp_path / "nan" / "metrics.json").exists()


def test_cpu_refuses_adam_sparse_optimizer(criteo_data: Path, tmp_path: Path) -> None:
    from recsys.errors import ConfigError

    with pytest.raises(ConfigError, match="GPU-only"):
        _train(criteo_data, tmp_path / "adam", "lr", sparse_optimizer="adam")


def test_param_count_and_embedding_bytes(criteo_data: Path, tmp_path: Path) -> None:
    m = _train(criteo_data, tmp_path / "lr", "lr")
    rows = sum(open_dataset(criteo_data).cardinalities.values())
    assert m["embedding_bytes"] == rows * 4 * 4  # width-4 first-order rows, float32
    assert m["params"] == rows * 4 + 1 and math.isfinite(m["test"]["logloss"])


def test_best_epoch_weights_are_restored(criteo_data: Path, tmp_path: Path) -> None:
    m = _train(criteo_data, tmp_path / "r", "deepfm", epochs=3, patience=0, sparse_learning_rate=0.05)
    history = [json.loads(x) for x in (tmp_path / "r" / "history.jsonl").read_text().splitlines()]
    best = max(range(len(history)), key=lambda i: history[i]["val_auc"]) + 1
    assert m["best_epoch"] == best and m["val"]["auc"] == pytest.approx(history[best - 1]["val_auc"], abs=1e-9)
    final = torch.load(tmp_path / "r" / "model.pt", weights_only=True)
    ckpt = torch.load(tmp_path / "r" / "checkpoints" / f"epoch-{best}.rank0.pt", weights_only=True)
    for key, value in final.items():
        saved = [v for k, v in ckpt.items() if k.startswith(f"model//{key}#")]
        assert saved and torch.equal(saved[0], value), key


@pytest.mark.parametrize("strategy", ["hashed", "unified"])
@pytest.mark.parametrize("model", ["lr", "fm", "dnn", "deepfm", "dcnv2", "ipnn", "autoint", "autoint+", "fgcnn"])
def test_every_model_trains_sharded_with_every_strategy(hashed_data: Path, tmp_path: Path, model: str,
                                                        strategy: str) -> None:
    m = _train(hashed_data, tmp_path / "r", model, embedding=strategy, embedding_budget="0.5MB", chunks=2 if strategy == "unified" else 1,
               **SHAPES.get(model, {}))
    assert m["embedding"] == strategy and m["embedding_bytes"] <= 0.5e6 * 2  # main + first-order tables
    assert m["test"]["auc"] > 0.6, (model, strategy, m["test"]["auc"])


def test_a_checkpoint_of_another_model_is_refused_with_one_line(criteo_data: Path, tmp_path: Path) -> None:
    """--resume into a RUN_DIR whose checkpoints were written by another config fails clearly."""
    import shutil

    from recsys.errors import TrainingError

    _train(criteo_data, tmp_path / "a", "dnn", epochs=1)
    _train(criteo_data, tmp_path / "b", "dnn", epochs=1, dnn_hidden_units=[16])
    shutil.copytree(tmp_path / "a" / "checkpoints", tmp_path / "b" / "checkpoints", dirs_exist_ok=True)
    cfg = resolve("dnn", overrides={**SMALL, "epochs": 2, "dnn_hidden_units": [16]})
    with pytest.raises(TrainingError, match="does not fit this model"):
        run_training(criteo_data, tmp_path / "b", cfg, resume=True, progress=False)


def test_embedding_regularizer_changes_training(criteo_data: Path, tmp_path: Path) -> None:
    """It did nothing once (fbgemm's fused CPU kernels ignore weight decay): now it shrinks rows."""
    plain = _train(criteo_data, tmp_path / "plain", "lr", epochs=1)
    shrunk = _train(criteo_data, tmp_path / "l2", "lr", epochs=1, embedding_regularizer=1e-2)
    assert plain["test"]["logloss"] != shrunk["test"]["logloss"]
    norms = [torch.load(tmp_path / run / "model.pt")
             for run in ("plain", "l2")]
    sizes = [sum(float(v.float().pow(2).sum()) for k, v in n.items() if "lr_" in k and k.endswith("weight")) for n in norms]
    assert sizes[1] < sizes[0]


def test_the_short_last_batch_steps_with_its_share_of_a_full_batch(criteo_data: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch of an epoch steps with weight 1 but the short last one, weighted rows / batch
    size (its unweighted mean once cost 0.004-0.006 test AUC on 200k rows)."""
    from recsys.training.loop import Trainer

    steps: list[tuple[int, float]] = []
    step = Trainer.train_step

    def spy(self: Trainer, batch: Any, share: float = 1.0) -> float:
        steps.append((batch.batch_size, share))
        return step(self, batch, share)

    monkeypatch.setattr(Trainer, "train_step", spy)
    _train(criteo_data, tmp_path / "run", "dnn", batch_size=1000, epochs=1)
    rows = open_dataset(criteo_data).manifest["splits"]["train"]
    full, rest = divmod(rows, 1000)
    assert rest and len(steps) == full + 1
    assert set(steps[:-1]) == {(1000, 1.0)} and steps[-1] == (rest, rest / 1000)
