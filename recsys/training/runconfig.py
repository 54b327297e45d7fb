"""A run's configuration: model YAML + user YAML + ``--set`` overrides -> typed parts.

One flat mapping (FuxiCTR style) is split by field name into the model's config, the
:class:`EmbeddingConfig` and the :class:`TrainConfig`; a key none of them knows is an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from recsys.config import apply_overrides, from_dict, load_yaml
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.errors import ConfigError
from recsys.features.spec import CONFIG_ROOT
from recsys.models.registry import lookup
from recsys.training.config import OptFSConfig, TrainConfig


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild a run's model and repeat its training."""

    model: str
    model_cfg: Any
    embedding: EmbeddingConfig
    train: TrainConfig
    features: Optional[tuple[str, ...]] = None
    optfs: OptFSConfig = OptFSConfig()

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "model_cfg": dataclasses.asdict(self.model_cfg),
                "embedding": dataclasses.asdict(self.embedding), "train": dataclasses.asdict(self.train),
                "features": list(self.features) if self.features is not None else None,
                "optfs": dataclasses.asdict(self.optfs)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RunConfig":
        model_cls, _ = lookup(data["model"])
        features = data.get("features")
        return cls(data["model"], from_dict(model_cls, data["model_cfg"], "model_cfg"),
                   EmbeddingConfig.from_json(data["embedding"]),
                   from_dict(TrainConfig, data["train"], "train"),
                   tuple(features) if features is not None else None,
                   from_dict(OptFSConfig, data.get("optfs") or {}, "optfs"))


def with_candidates(cfg: RunConfig, report: Path) -> RunConfig:
    """``--candidates``: OptInter's candidate pairs from a rank report (its top ``optinter_candidates_top_k``)."""
    from recsys.ranking.candidates import top_pairs

    if cfg.model != "optinter":
        raise ConfigError("--candidates is for --model optinter")
    pairs = top_pairs(report, cfg.model_cfg.optinter_candidates_top_k)
    return dataclasses.replace(cfg, model_cfg=dataclasses.replace(cfg.model_cfg, optinter_pairs=tuple(pairs)))


def model_defaults(model: str) -> dict[str, Any]:
    """``configs/models/NAME.yaml`` (``autoint+`` -> ``autoint_plus.yaml``), minus its ``model`` key."""
    path = CONFIG_ROOT / "models" / f"{model.replace('+', '_plus')}.yaml"
    data = load_yaml(path) if path.is_file() else {}
    data.pop("model", None)
    return data


def read_feature_list(path: Path) -> tuple[str, ...]:
    """A field list file (one name per line, ``#`` comments), e.g. ``recsys rank --top-k``'s."""
    if not path.is_file():
        raise ConfigError(f"feature list not found: {path}")
    names = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    names = [n for n in names if n]
    if not names:
        raise ConfigError(f"{path}: no field names")
    return tuple(names)


def resolve(model: str, config_file: Optional[Path] = None, overrides: Optional[Mapping[str, Any]] = None,
            features: Optional[Sequence[str]] = None) -> RunConfig:
    """Merge defaults, the user's file and overrides; split and validate them."""
    model_cls, _ = lookup(model)
    data = model_defaults(model)
    if config_file is not None:
        user = load_yaml(config_file)
        if user.pop("model", model) != model:
            raise ConfigError(f"{config_file}: its model does not match --model {model}")
        data = apply_overrides(data, user)
    data = apply_overrides(data, dict(overrides or {}))
    parts: dict[type, dict[str, Any]] = {model_cls: {}, EmbeddingConfig: {}, TrainConfig: {}, OptFSConfig: {}}
    names = {cls: {f.name for f in dataclasses.fields(cls)} for cls in parts}
    for key, value in data.items():
        owner = next((cls for cls in parts if key in names[cls]), None)
        if owner is None:
            valid = sorted(set().union(*names.values()))
            raise ConfigError(f"unknown config key {key!r} for model {model}; valid keys: {', '.join(valid)}")
        parts[owner][key] = value
    return RunConfig(model, from_dict(model_cls, parts[model_cls], model),
                     from_dict(EmbeddingConfig, parts[EmbeddingConfig], "embedding"),
                     from_dict(TrainConfig, parts[TrainConfig], "train"),
                     tuple(features) if features is not None else None,
                     from_dict(OptFSConfig, parts[OptFSConfig], "optfs"))
