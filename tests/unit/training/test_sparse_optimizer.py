"""Each embedding table gets its fused optimizer: the run's, or the one its module names."""

from __future__ import annotations

import pytest
import torch
import torchrec.optim as trec_opt

from recsys.embeddings.crosses import CrossEmbedding
from recsys.errors import ConfigError
from recsys.models.registry import build_model
from recsys.training.config import TrainConfig
from recsys.training.env import DistEnv
from recsys.training.parallel import embedding_parameters, fuse_sparse_optimizer
from recsys.training.runconfig import resolve
from tests.unit.models.test_models import _schema

CPU = DistEnv(0, 1, 0, torch.device("cpu"))


def _optinter(**overrides):  # type: ignore[no-untyped-def]
    cfg = resolve("optinter", overrides={"dnn_hidden_units": [16], "optinter_cross_budget": "1000rows", **overrides})
    return build_model("optinter", cfg.model_cfg, cfg.embedding, _schema(4))


def _classes(model: torch.nn.Module) -> tuple[set[type], set[type]]:
    """The fused optimizer classes of the cross tables and of every other table."""
    cross = {id(p) for m in model.modules() if isinstance(m, CrossEmbedding) for p in m.parameters()}
    params = embedding_parameters(model)
    of = lambda keep: {c for p in params if (id(p) in cross) == keep for c in p._optimizer_classes}  # noqa: E731
    return of(True), of(False)


def test_cross_tables_get_their_own_optimizer_and_the_rest_the_runs() -> None:
    model = _optinter()
    fuse_sparse_optimizer(model, TrainConfig(), CPU)
    assert _classes(model) == ({torch.optim.Adagrad}, {trec_opt.RowWiseAdagrad})
    model = _optinter(optinter_cross_optimizer=None)  # None: the run's
    fuse_sparse_optimizer(model, TrainConfig(sparse_optimizer="sgd"), CPU)
    assert _classes(model) == ({torch.optim.SGD}, {torch.optim.SGD})


def test_unknown_or_gpu_only_cross_optimizer_is_refused_on_cpu() -> None:
    with pytest.raises(ConfigError, match="unknown sparse optimizer 'lamb'"):
        fuse_sparse_optimizer(_optinter(optinter_cross_optimizer="lamb"), TrainConfig(), CPU)
    with pytest.raises(ConfigError, match="adam is GPU-only"):
        fuse_sparse_optimizer(_optinter(optinter_cross_optimizer="adam"), TrainConfig(), CPU)
