"""The scoring service over real HTTP (uvicorn on loopback): parity with in-process scoring for
every model and embedding strategy, the real Criteo and Avazu samples included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.scoring.predictor import Predictor
from tests.conftest import shared_file
from tests.serving.conftest import Client, bundle_for, prepared, raw_rows, typed

MODELS = ["lr", "fm", "dnn", "deepfm", "dcnv2", "ipnn", "autoint", "autoint+", "fgcnn", "optinter"]


def _assert_parity(client: Client, predictor: Predictor, rows: list[dict[str, Any]]) -> None:
    status, body = client.score(rows)
    assert status == 200, body
    direct = predictor.score_typed(typed(predictor, rows))
    assert np.abs(np.array(body["scores"]) - direct).max() <= 1e-6
    cfg = predictor.features.dataset
    unseen = {cfg.categorical[0]: "never-seen-value", **({cfg.dense[0]: 99999} if cfg.dense else {})}
    status, body = client.score([{}, unseen])  # missing fields, unseen values
    assert status == 200 and all(0 < s < 1 for s in body["scores"])


@pytest.mark.parametrize("strategy", ["vocab", "hashed", "unified"])
@pytest.mark.parametrize("model", MODELS)
def test_service_scores_equal_in_process_scores(model: str, strategy: str, tiny_raw: Path, serve: Any,
                                                tmp_path: Path) -> None:
    data = prepared(tiny_raw, tmp_path / "data", "criteo")
    predictor = Predictor.load(bundle_for(data, tmp_path, model, strategy))
    _assert_parity(serve(predictor), predictor, raw_rows(tiny_raw, "criteo", 64))


@pytest.mark.parametrize("fmt,sample", [("criteo", "criteo_head/criteo_head9999.tsv"),
                                        ("avazu", "avazu_head/avazu_head8999.csv")])
def test_service_parity_on_real_samples(fmt: str, sample: str, serve: Any, tmp_path: Path) -> None:
    source = shared_file(sample)
    data = prepared(source, tmp_path / "data", fmt)
    predictor = Predictor.load(bundle_for(data, tmp_path, "deepfm", "vocab"))
    client = serve(predictor)
    _assert_parity(client, predictor, raw_rows(source, fmt, 200))
