"""Model names -> (config dataclass, model class). Names are the CLI's ``--model`` values."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import nn

from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.errors import ModelError
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
    """Model ``name`` for ``schema``; tables on ``device`` (``meta`` for sharding, ``cpu`` to score)."""
    _, model_cls = lookup(name)
    return model_cls(model_cfg, schema, emb, device or torch.device("meta"))
