"""A study file (YAML) -> the dataset to use and the list of trials to run.

    name: synth_smoke
    dataset:                      # one of: data_dir | raw (+ format) | synth
      synth: {format: criteo, rows: 200000, seed: 7}
      split: random               # prepare's --split for raw/synth (criteo_x4, avazu_x4, ...)
    defaults: {epochs: 1}         # every run-config key, in the names users write
    runs:                         # explicit configurations ...
      - {model: deepfm}
    grid:                         # ... and/or a cartesian product of keys
      model: [deepfm, dcnv2]
      embedding: [vocab, unified]
    seeds: [1, 2]                 # every configuration runs once per seed
    search:                       # optional: an ASHA search over run-config keys
      algorithm: asha
      metric: val_auc
      trials: 8
      base: {model: deepfm, epochs: 3}
      space:
        learning_rate: {loguniform: [1.0e-4, 1.0e-2]}
        net_dropout: {uniform: [0.0, 0.3]}
        embedding_dim: {choice: [8, 16, 32]}
      grace_period: 1
      reduction_factor: 2

Relative paths are read from the current directory, like the CLI's. Keys in a run are
``model``, ``embedding``, ``embedding_budget``, ``optfs``, ``candidates`` (a rank report, for
OptInter) and any key ``recsys train --set`` accepts; each is checked before anything runs.
Search configurations are drawn once from ``search.seed`` and kept in ``EXP_DIR/study.json``,
so a resumed study runs the same ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from recsys.config import load_yaml
from recsys.errors import ConfigError
from recsys.features.spec import SplitMethod
from recsys.training.runconfig import RunConfig, resolve, with_candidates

TOP_KEYS = {"name", "dataset", "defaults", "runs", "grid", "seeds", "search"}
DATASET_KEYS = {"data_dir", "raw", "synth", "format", "split", "config", "seed", "min_count"}
SEARCH_KEYS = {"algorithm", "metric", "mode", "trials", "base", "space", "grace_period", "reduction_factor", "seed"}
SAMPLERS = ("loguniform", "uniform", "choice", "randint")


@dataclass(frozen=True)
class DatasetSpec:
    """Where the study's DATA_DIR comes from: an existing one, raw files, or ``recsys synth``."""

    data_dir: Optional[Path] = None
    raw: tuple[Path, ...] = ()
    synth: Optional[dict[str, Any]] = None
    format: str = "criteo"
    split: Optional[str] = None
    config: Optional[str] = None
    seed: Optional[int] = None
    min_count: Optional[int] = None

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["data_dir"] = str(self.data_dir) if self.data_dir else None
        out["raw"] = [str(p) for p in self.raw]
        return out


@dataclass(frozen=True)
class Trial:
    """One run of the study: configuration ``config`` (a stable name) with seed ``seed``.

    ``keys`` are the user's keys for this configuration (without seed); ``cfg`` the resolved
    RunConfig; ``search`` marks trials drawn by the search (ASHA may stop them early)."""

    config: str
    seed: int
    keys: dict[str, Any]
    cfg: RunConfig
    candidates: Optional[Path] = None
    search: bool = False

    @property
    def id(self) -> str:
        return f"{self.config}/seed-{self.seed}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "config": self.config, "seed": self.seed, "keys": self.keys, "search": self.search,
                "candidates": str(self.candidates) if self.candidates else None}


@dataclass(frozen=True)
class SearchSpec:
    """ASHA over ``trials`` drawn configurations: rungs every ``reduction_factor``x epochs from
    ``grace_period``; the worst ``1 - 1/reduction_factor`` at each rung stop."""

    metric: str = "val_auc"
    mode: str = "max"
    trials: int = 8
    grace_period: int = 1
    reduction_factor: int = 2
    max_epochs: int = 1
    space: tuple[str, ...] = ()


@dataclass(frozen=True)
class Study:
    name: str
    dataset: DatasetSpec
    trials: list[Trial]
    search: Optional[SearchSpec] = None
    source: dict[str, Any] = field(default_factory=dict)

    def trial(self, trial_id: str) -> Trial:
        return next(t for t in self.trials if t.id == trial_id)


def _unknown(where: str, got: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(got) - allowed)
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}; expected {', '.join(sorted(allowed))}")


def _dataset(path: Path, raw: Any) -> DatasetSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: 'dataset' must be a mapping (data_dir, raw or synth)")
    _unknown(f"{path}: dataset", raw, DATASET_KEYS)
    sources = [k for k in ("data_dir", "raw", "synth") if raw.get(k)]
    if len(sources) != 1:
        raise ConfigError(f"{path}: dataset needs exactly one of data_dir, raw, synth (got {sources or 'none'})")
    files = raw.get("raw") or ()
    files = (files,) if isinstance(files, str) else tuple(files)
    synth = raw.get("synth")
    if synth is not None and (not isinstance(synth, dict) or "rows" not in synth):
        raise ConfigError(f"{path}: dataset.synth needs at least 'rows' (and 'format', 'seed')")
    fmt = raw.get("format") or (synth or {}).get("format", "criteo")
    if raw.get("split") is not None and raw["split"] not in typing.get_args(SplitMethod):
        raise ConfigError(f"{path}: dataset.split {raw['split']!r}; expected one of {', '.join(typing.get_args(SplitMethod))}")
    return DatasetSpec(Path(raw["data_dir"]) if raw.get("data_dir") else None, tuple(Path(f) for f in files),
                       dict(synth) if synth else None, fmt, raw.get("split"), raw.get("config"), raw.get("seed"),
                       raw.get("min_count"))


def config_name(keys: Mapping[str, Any], prefix: str = "") -> str:
    """A readable, stable directory name for a configuration from the keys that set it apart
    (``dcnv2-embedding=hashed``); long ones end in a hash of the keys."""
    parts = ([prefix] if prefix else []) + [str(keys["model"]).replace("+", "_plus")]
    parts += [f"{k}={_short(v)}" for k, v in sorted(keys.items()) if k != "model"]
    name = re.sub(r"[^A-Za-z0-9=._,+-]", "_", "-".join(parts))
    if len(name) > 80:
        digest = hashlib.sha1(json.dumps(dict(keys), sort_keys=True, default=str).encode()).hexdigest()[:10]
        name = f"{name[:60]}-{digest}"
    return name


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "x".join(_short(x) for x in v)
    return str(v)


def _resolve_trial(where: str, own: dict[str, Any], defaults: dict[str, Any], seed: int,
                   prefix: str = "") -> Trial:
    """``own``: the keys that name the configuration; ``defaults``: the study's, under them."""
    keys = {**defaults, **own}
    if "model" not in keys:
        raise ConfigError(f"{where}: every run needs a 'model'")
    if "seed" in keys:
        raise ConfigError(f"{where}: give seeds in the study's 'seeds' list, not in a run")
    candidates = keys.pop("candidates", None)
    model = str(keys.pop("model"))
    try:
        cfg = resolve(model, overrides={**keys, "seed": seed})
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    if candidates is not None:
        cfg = with_candidates(cfg, Path(candidates))
    user = {"model": model, **keys, **({"candidates": candidates} if candidates else {})}
    naming = {k: v for k, v in user.items() if k in own or k == "model"}
    return Trial(config_name(naming, prefix), seed, user, cfg, Path(candidates) if candidates else None,
                 bool(prefix))


def _grid(path: Path, grid: Any) -> list[dict[str, Any]]:
    if not grid:
        return []
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError(f"{path}: 'grid' maps keys to non-empty lists of values")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def _sample(where: str, spec: Any, rng: np.random.Generator) -> Any:
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in SAMPLERS:
        raise ConfigError(f"{where}: a search space entry is one of {', '.join(SAMPLERS)}: e.g. {{uniform: [0, 0.5]}}")
    kind, arg = next(iter(spec.items()))
    if kind == "choice":
        return arg[int(rng.integers(0, len(arg)))]
    lo, hi = arg
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if kind == "randint":
        return int(rng.integers(lo, hi + 1))
    return float(rng.uniform(lo, hi))


def draw_search(path: Path, raw: dict[str, Any]) -> tuple[SearchSpec, list[dict[str, Any]]]:
    """The search's settings and its ``trials`` configurations (user keys), drawn reproducibly."""
    _unknown(f"{path}: search", raw, SEARCH_KEYS)
    if raw.get("algorithm", "asha") != "asha":
        raise ConfigError(f"{path}: search.algorithm: only 'asha' is supported")
    base, space = dict(raw.get("base") or {}), raw.get("space") or {}
    if "model" not in base or not isinstance(space, dict) or not space:
        raise ConfigError(f"{path}: search needs 'base' (with a model) and a non-empty 'space'")
    rng = np.random.default_rng(int(raw.get("seed", 0)))
    configs = [{**base, **{k: _sample(f"{path}: search.space.{k}", v, rng) for k, v in space.items()}}
               for _ in range(int(raw.get("trials", 8)))]
    spec = SearchSpec(str(raw.get("metric", "val_auc")), str(raw.get("mode", "max")), len(configs),
                      int(raw.get("grace_period", 1)), int(raw.get("reduction_factor", 2)), space=tuple(space))
    if spec.metric not in ("val_auc", "val_logloss") or spec.mode not in ("max", "min"):
        raise ConfigError(f"{path}: search.metric is val_auc or val_logloss, mode max or min")
    return spec, configs


def load_study(path: Path, drawn: Optional[list[dict[str, Any]]] = None) -> Study:
    """Parse and check a study file; ``drawn``: search configurations kept from an earlier run."""
    raw = load_yaml(path)
    _unknown(str(path), raw, TOP_KEYS)
    if "dataset" not in raw:
        raise ConfigError(f"{path}: no 'dataset'")
    dataset = _dataset(path, raw["dataset"])
    defaults = dict(raw.get("defaults") or {})
    seeds = raw.get("seeds") or [2024]
    if not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds):
        raise ConfigError(f"{path}: 'seeds' is a list of integers")
    configs = [dict(r) for r in (raw.get("runs") or [])] + _grid(path, raw.get("grid"))
    trials = [_resolve_trial(f"{path}: run {i + 1}", c, defaults, s) for i, c in enumerate(configs) for s in seeds]
    search = None
    if raw.get("search"):
        search, drawn_now = draw_search(path, raw["search"])
        drawn = drawn if drawn is not None else drawn_now
        # named by number (search01-deepfm): the drawn values are in the report's search table
        searched = [_resolve_trial(f"{path}: search trial {i + 1}", {}, {**defaults, **c}, seeds[0],
                                   prefix=f"search{i + 1:02d}")
                    for i, c in enumerate(drawn)]
        search = dataclasses.replace(search, max_epochs=max(t.cfg.train.epochs for t in searched))
        trials += searched
    if not trials:
        raise ConfigError(f"{path}: no runs: give 'runs', 'grid' or 'search'")
    ids = [t.id for t in trials]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ConfigError(f"{path}: the same configuration appears twice: {', '.join(dup[:3])}")
    return Study(str(raw.get("name") or path.stem), dataset, trials, search,
                 {"file": str(path), "search_configs": drawn if search else None})
