"""Two gloo ranks on CPU: the same training job, tables sharded by TorchRec's planner."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from recsys.data.dataset_dir import open_dataset

pytestmark = pytest.mark.distributed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


OPTFS = {"optfs": True, "optfs_search_epochs": 2, "optfs_learning_rate": 0.05, "optfs_lambda": 1e-6,
         "optfs_rewind_epoch": 0}


def _worker(rank: int, world: int, port: int, data: str, run: str, model: str, extra: dict) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from recsys.training.job import run_training
    from recsys.training.runconfig import resolve

    base = {"embedding": "unified", "embedding_budget": "20000rows", "chunks": 2}
    cfg = resolve(model, overrides={"batch_size": 1024, "dnn_hidden_units": [32], "epochs": 2, "threads": 1,
                                    **(base if extra.get("embedding") is None else {}), **extra})
    run_training(Path(data), Path(run), cfg, progress=False)


def _exported_auc(run: Path, data: Path) -> float:
    """Test AUC of the run's saved full weights, unsharded."""
    from recsys.training.evaluate import evaluate_run

    return float(evaluate_run(run, data)["auc"])


@pytest.mark.parametrize("embedding", ["unified", "vocab"])
def test_two_ranks_train_and_evaluate_every_row(criteo_data: Path, tmp_path: Path, embedding: str) -> None:
    """Unified: one shared table, column-wise over the ranks; vocab: a table per field, table-wise.
    Either way the exported weights score as the sharded model did."""
    run = tmp_path / "run"
    extra = {} if embedding == "unified" else {"embedding": "vocab"}
    mp.start_processes(_worker, args=(2, _free_port(), str(criteo_data), str(run), "deepfm", extra), nprocs=2,
                       join=True, start_method="spawn")
    metrics = json.loads((run / "metrics.json").read_text())
    splits = open_dataset(criteo_data).manifest["splits"]
    assert metrics["world_size"] == 2 and metrics["epochs"] == 2
    assert metrics["test"]["rows"] == splits["test"] and metrics["val"]["rows"] == splits["val"]
    assert metrics["test"]["auc"] > 0.62
    assert _exported_auc(run, criteo_data) == pytest.approx(metrics["test"]["auc"], abs=1e-4)
    assert (run / "checkpoints" / "epoch-2.rank0.pt").is_file() and (run / "checkpoints" / "epoch-2.rank1.pt").is_file()
    assert (run / "model.pt").is_file()
    # Dense weights are data-parallel: both ranks must hold the same values after training.
    import torch

    ranks = [torch.load(run / "checkpoints" / f"epoch-2.rank{r}.pt", weights_only=True) for r in (0, 1)]
    dense = [k for k in ranks[0] if k.startswith("model//") and "mlp" in k]
    assert dense and all(torch.equal(ranks[0][k], ranks[1][k]) for k in dense)


def test_two_ranks_search_optfs_gates_and_retrain_pruned(criteo_data: Path, tmp_path: Path) -> None:
    """The OptFS search runs on sharded tables with replicated gates; the pruned retrain too."""
    run = tmp_path / "optfs"
    mp.start_processes(_worker, args=(2, _free_port(), str(criteo_data), str(run), "deepfm", OPTFS), nprocs=2,
                       join=True, start_method="spawn")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["optfs"]["search_epochs"] == 2
    assert metrics["embedding_bytes"] < metrics["embedding_bytes_unpruned"]
    assert metrics["test"]["rows"] == open_dataset(criteo_data).manifest["splits"]["test"]
    assert metrics["test"]["auc"] > 0.62 and (run / "optfs" / "fields.tsv").is_file()
    assert _exported_auc(run, criteo_data) == pytest.approx(metrics["test"]["auc"], abs=1e-4)


def test_two_ranks_search_optinter_and_retrain_the_chosen_pairs(criteo_data: Path, tmp_path: Path) -> None:
    """The OptInter search (alpha replicated, cross table sharded) and its retrain on 2 ranks."""
    run = tmp_path / "optinter"
    extra = {"optinter_pairs": [["C14", "C17"], ["C22", "C23"], ["C3", "C4"], ["C1", "C2"]],
             "optinter_cross_budget": "8000rows", "optinter_arch_learning_rate": 0.1}
    mp.start_processes(_worker, args=(2, _free_port(), str(criteo_data), str(run), "optinter", extra), nprocs=2,
                       join=True, start_method="spawn")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["optinter"]["pairs"] == 4
    assert metrics["test"]["rows"] == open_dataset(criteo_data).manifest["splits"]["test"]
    assert metrics["test"]["auc"] > 0.62 and (run / "optinter" / "methods.tsv").is_file()
    assert _exported_auc(run, criteo_data) == pytest.approx(metrics["test"]["auc"], abs=1e-4)
