"""Run configs: defaults, overrides, unknown keys, FuxiCTR names."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.config import parse_set_args
from recsys.errors import ConfigError, ModelError
from recsys.training.runconfig import RunConfig, resolve


def test_defaults_and_dotted_overrides_parse_as_yaml() -> None:
    cfg = resolve("autoint+", overrides=parse_set_args(["dnn_hidden_units=[64,32]", "use_scale=true",
                                                        "learning_rate=0.01", "embedding_dim=8"]))
    assert cfg.model_cfg.dnn_hidden_units == (64, 32) and cfg.model_cfg.use_scale is True
    assert cfg.model_cfg.attention_dim == 64  # from configs/models/autoint_plus.yaml
    assert cfg.train.learning_rate == 0.01 and cfg.embedding.embedding_dim == 8
    assert RunConfig.from_json(cfg.to_json()) == cfg


def test_unknown_key_and_wrong_types_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown config key 'hidden_units'"):
        resolve("deepfm", overrides={"hidden_units": [1]})
    with pytest.raises(ConfigError, match="expected true or false"):
        resolve("autoint", overrides={"use_residual": "yes"})
    with pytest.raises(ModelError, match="unknown model 'deepctr'"):
        resolve("deepctr")
    bad = tmp_path / "x.yaml"
    bad.write_text("model: dcnv2\nmodel_structure: diagonal\n")
    with pytest.raises(ConfigError, match="diagonal"):
        resolve("dcnv2", bad)


def test_user_file_for_another_model_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("model: fm\nembedding_dim: 8\n")
    with pytest.raises(ConfigError, match="does not match"):
        resolve("deepfm", f)


def test_embedding_keys_are_spelled_as_on_the_command_line() -> None:
    """``--embedding`` / ``--embedding-budget`` and the config keys are one name each; runs written
    with the old ``strategy`` / ``budget`` keys still load."""
    cfg = resolve("deepfm", overrides=parse_set_args(["embedding=hashed", "embedding_budget=1MB"]))
    assert (cfg.embedding.embedding, cfg.embedding.embedding_budget) == ("hashed", "1MB")
    saved = cfg.to_json()
    assert {"embedding", "embedding_budget"} <= set(saved["embedding"])
    old = {**saved, "embedding": {("strategy" if k == "embedding" else "budget" if k == "embedding_budget" else k): v
                                  for k, v in saved["embedding"].items()}}
    assert RunConfig.from_json(old) == cfg
    with pytest.raises(ConfigError, match="unknown config key 'strategy'"):
        resolve("deepfm", overrides={"strategy": "hashed"})
