"""Model names -> (config dataclass, model class). Names are the CLI's ``--model`` values."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import torch
from torch import nn

from recsys.embeddings.budget import budget_rows
from recsys.embeddings.module import FieldEmbedding
from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.errors import ConfigError, ModelError
from recsys.layers.init import init_dense_
from recsys.models.autoint import AutoInt, AutoIntConfig, AutoIntPlus
from recsys.models.dcnv2 import DCNv2, DCNv2Config
from recsys.models.deepfm import DeepFM, DeepFMConfig
from recsys.models.dnn import DNN, DNNModelConfig
from recsys.models.fgcnn import FGCNN, FGCNNConfig
from recsys.models.fm import FM, FMConfig
from recsys.models.ipnn import IPNN, IPNNConfig
from recsys.models.lr import LR, LRConfig
from recsys.models.optinter import OptInter, OptInterConfig

MODELS: dict[str, tuple[type, Callable[..., Any]]] = {
    "lr": (LRConfig, LR),
    "fm": (FMConfig, FM),
    "dnn": (DNNModelConfig, DNN),
    "deepfm": (DeepFMConfig, DeepFM),
    "dcnv2": (DCNv2Config, DCNv2),
    "ipnn": (IPNNConfig, IPNN),
    "autoint": (AutoIntConfig, AutoInt),
    "autoint+": (AutoIntConfig, AutoIntPlus),
    "fgcnn": (FGCNNConfig, FGCNN),
    "optinter": (OptInterConfig, OptInter),
}


def lookup(name: str) -> tuple[type, Callable[..., Any]]:
    """(config class, model class) of ``name``; unknown names list the valid ones."""
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name: str, model_cfg: Any, emb: EmbeddingConfig, schema: FeatureSchema,
                device: Optional[torch.device] = None) -> nn.Module:
    """Model ``name`` for ``schema``; tables on ``device`` (``meta`` for sharding, ``cpu`` to score).

    ``--embedding-budget`` (hashed, unified) is a total over every field-embedding table the
    model has: main, first-order (``lr_``), FGCNN's generator (``gen_``), OptInter's
    factorization tables (``fac_``); OptInter's cross table has its own budget. The budget
    given to each table plan is scaled down until the tables together fit. Dense layers start
    from :func:`~recsys.layers.init.init_dense_` (Xavier-normal, zero biases)."""
    _, model_cls = lookup(name)
    model = model_cls(model_cfg, schema, fitted_budget(model_cls, model_cfg, emb, schema), device or torch.device("meta"))
    return init_dense_(model)


def field_table_bytes(model: nn.Module) -> int:
    """fp32 bytes of every field-embedding table of ``model`` (from the plans: works on ``meta``)."""
    return sum(t.num_embeddings * t.embedding_dim * 4 for m in model.modules() if isinstance(m, FieldEmbedding)
               for t in m.plan.tables)


def fitted_budget(model_cls: Callable[..., Any], model_cfg: Any, emb: EmbeddingConfig,
                  schema: FeatureSchema) -> EmbeddingConfig:
    """``emb`` with its budget (bytes given to each table plan) scaled so that all the model's
    field tables together fill the user's budget without exceeding it; unchanged for vocab
    tables or without a budget."""
    if emb.embedding == "vocab" or not emb.embedding_budget:
        return emb
    target = budget_rows(emb.embedding_budget, emb.embedding_dim) * emb.embedding_dim * 4
    given, best = float(target), None
    for _ in range(8):
        trial = dataclasses.replace(emb, embedding_budget=f"{int(given)}b")
        used = field_table_bytes(model_cls(model_cfg, schema, trial, torch.device("meta")))
        if used <= target:
            best = trial
            if used >= 0.98 * target:
                break
        given *= target / max(used, 1) * (0.999 if used > target else 1.0)
    if best is None:
        raise ConfigError(f"embedding budget {emb.embedding_budget} is too small for the tables of this model")
    return best
