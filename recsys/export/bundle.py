"""A bundle: manifest + fitted-features artifact + full model weights (tensors only).

    BUNDLE_DIR/
      manifest.json   version, model, model_cfg, embedding, features_hash, metrics,
                      pruned_tables (OptFS: rows per pruned table; the row maps are in model.pt)
      features/       copy of DATA_DIR/features (vocabulary, transforms, hash)
      model.pt        unsharded weights, loadable with weights_only=True

Export reads a finished RUN_DIR; it never imports training code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from recsys.errors import BundleError
from recsys.files import replace_dir, temp_dir_for, write_json_atomic
from recsys.features.fitted import features_hash

BUNDLE_VERSION = 1


def export_bundle(run_dir: Path, out: Path) -> dict[str, Any]:
    """Write BUNDLE_DIR from a finished RUN_DIR (temporary name, renamed when complete)."""
    for name in ("metrics.json", "config.json", "model.pt"):
        if not (run_dir / name).is_file():
            raise BundleError(f"{run_dir}: no {name}; the run is not finished")
    config = json.loads((run_dir / "config.json").read_text())
    data_dir = Path(config["data_dir"])
    if not (data_dir / "features" / "features.json").is_file():
        raise BundleError(f"{data_dir}: features artifact not found (moved or deleted DATA_DIR?)")
    fhash = features_hash(data_dir / "features")
    if fhash != config["features_hash"]:
        raise BundleError(f"{data_dir}: features artifact changed since training (hash mismatch)")
    manifest = {"version": BUNDLE_VERSION, "model": config["model"], "model_cfg": config["model_cfg"],
                "embedding": config["embedding"], "features_hash": fhash, "fields": config.get("features"),
                "pruned_tables": config.get("pruned_tables"),
                "metrics": json.loads((run_dir / "metrics.json").read_text())}
    tmp = temp_dir_for(out)
    try:
        shutil.copytree(data_dir / "features", tmp / "features")
        shutil.copy2(run_dir / "model.pt", tmp / "model.pt")
        write_json_atomic(tmp / "manifest.json", manifest)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest
