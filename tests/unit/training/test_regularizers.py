"""Embedding L2 is a loss term on the looked-up rows (fbgemm's fused CPU kernels ignore weight decay)."""

from __future__ import annotations

import pytest
import torch

from recsys.embeddings.module import FieldEmbedding
from recsys.training.regularizers import embedding_l2
from tests.unit.models.test_models import _inputs, _model, _schema


def test_penalty_is_half_lambda_sum_of_squared_lookups() -> None:
    schema = _schema(4)
    model = _model("deepfm", schema).train()
    penalty = embedding_l2(model, 1e-3)
    assert penalty is not None
    dense, kjt = _inputs(schema, 16)
    looked_up = []
    hooks = [m.ebc.register_forward_hook(lambda mod, inp, out: looked_up.append(out.values()))
             for m in model.modules() if isinstance(m, FieldEmbedding)]
    model(dense, kjt)
    for h in hooks:
        h.remove()
    want = sum(0.5 * 1e-3 * v.pow(2).sum() for v in looked_up)
    assert len(looked_up) == 2  # DeepFM: the main and the first-order (lr_) embeddings
    assert float(penalty()) == pytest.approx(float(want), rel=1e-5)
    assert float(penalty()) == 0.0  # consumed: the next step starts from zero


def test_no_penalty_without_weight_or_in_eval() -> None:
    schema = _schema(3)
    model = _model("dnn", schema)
    assert embedding_l2(model, 0.0) is None
    penalty = embedding_l2(model, 1e-3)
    assert penalty is not None
    model.eval()(*_inputs(schema, 8))
    assert float(penalty()) == 0.0
