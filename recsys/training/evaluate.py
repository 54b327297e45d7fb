"""Evaluate a finished run's weights on any split of a DATA_DIR, unsharded, exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import torch

from recsys.data.dataset_dir import open_dataset
from recsys.data.loader import BatchLoader
from recsys.embeddings.prune import prune_model
from recsys.embeddings.schema import FeatureSchema
from recsys.errors import DataDirError
from recsys.memory import tune_allocator
from recsys.models.registry import build_model
from recsys.training import checkpoint as ckpt
from recsys.training.loop import score_loader
from recsys.training.runconfig import RunConfig


def load_run_model(run_dir: Path, schema: FeatureSchema) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a run's model on CPU and load its final weights."""
    for name in ("config.json", "model.pt", "metrics.json"):
        if not (run_dir / name).is_file():
            raise DataDirError(f"{run_dir}: no {name}; not a finished run")
    config = json.loads((run_dir / "config.json").read_text())
    model = unsharded_model(RunConfig.from_json(config), schema, ckpt.load(run_dir / "model.pt"),
                            config.get("pruned_tables"))
    return model, config


def unsharded_model(cfg: RunConfig, schema: FeatureSchema, weights: dict[str, torch.Tensor],
                    pruned: Optional[dict] = None) -> torch.nn.Module:
    """``cfg``'s model on CPU, tables pruned to ``pruned`` sizes (OptFS), holding full ``weights``; eval mode."""
    model = build_model(cfg.model, cfg.model_cfg, cfg.embedding, schema, torch.device("cpu"))
    if pruned:
        prune_model(model, sizes=pruned, device=torch.device("cpu"))
    model.load_state_dict(weights)
    return model.eval()


@torch.no_grad()
def evaluate_run(run_dir: Path, data_dir: Path, split: str = "test", batch_size: int = 16384) -> dict[str, Any]:
    """Exact AUC/logloss of ``run_dir``'s model on ``split``; refuses a DATA_DIR with other features."""
    info = open_dataset(data_dir)
    tune_allocator()
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").is_file() else {}
    if config and config["features_hash"] != info.manifest["features_hash"]:
        raise DataDirError(f"{data_dir}: its features differ from the ones {run_dir} was trained on")
    schema = FeatureSchema.from_manifest(info.manifest, config.get("features"))
    model, config = load_run_model(run_dir, schema)
    loader = BatchLoader(info.split_files(split), list(schema.dense), list(schema.categorical), batch_size)
    r = score_loader(model, loader, torch.device("cpu"))
    return {"model": config["model"], "split": split, "auc": r.auc, "logloss": r.logloss,
            "rows": r.rows, "rows_per_s": r.rows_per_s}
