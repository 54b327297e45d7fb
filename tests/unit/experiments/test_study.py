"""Study files: grid x seeds, names, the search's draws, and clear errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from recsys.errors import ConfigError
from recsys.experiments.study import config_name, load_study


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


BASE = {"dataset": {"data_dir": "somewhere"}, "defaults": {"epochs": 2}}


def test_runs_and_grid_times_seeds(tmp_path: Path) -> None:
    study = load_study(_write(tmp_path, {**BASE, "runs": [{"model": "lr"}],
                                          "grid": {"model": ["deepfm", "dcnv2"], "embedding": ["vocab", "hashed"]},
                                          "seeds": [1, 2]}))
    assert len(study.trials) == (1 + 4) * 2
    ids = [t.id for t in study.trials]
    assert "lr/seed-1" in ids and "dcnv2-embedding=hashed/seed-2" in ids
    t = study.trial("dcnv2-embedding=hashed/seed-2")
    assert t.cfg.embedding.embedding == "hashed" and t.cfg.train.seed == 2 and t.cfg.train.epochs == 2


def test_the_search_is_drawn_reproducibly_and_kept(tmp_path: Path) -> None:
    data = {**BASE, "search": {"trials": 5, "base": {"model": "deepfm", "epochs": 3},
                               "space": {"learning_rate": {"loguniform": [1e-4, 1e-2]},
                                         "embedding_dim": {"choice": [8, 16]},
                                         "net_dropout": {"uniform": [0.0, 0.3]}}}}
    a, b = load_study(_write(tmp_path, data)), load_study(_write(tmp_path, data))
    assert [t.keys for t in a.trials] == [t.keys for t in b.trials] and len(a.trials) == 5
    assert all(1e-4 <= t.cfg.train.learning_rate <= 1e-2 and t.cfg.embedding.embedding_dim in (8, 16)
               for t in a.trials)
    assert a.search is not None and a.search.max_epochs == 3 and a.trials[0].config == "search01-deepfm"
    kept = a.source["search_configs"]
    kept[0]["learning_rate"] = 0.005
    again = load_study(_write(tmp_path, data), drawn=kept)
    assert again.trials[0].cfg.train.learning_rate == 0.005


@pytest.mark.parametrize("data, message", [
    ({**BASE, "runs": [{"model": "deepfm", "no_such_key": 1}]}, "run 1: unknown config key 'no_such_key'"),
    ({**BASE, "runs": [{"embedding": "vocab"}]}, "every run needs a 'model'"),
    ({**BASE, "runs": [{"model": "deepfm", "seed": 3}]}, "seeds"),
    ({"runs": [{"model": "lr"}]}, "no 'dataset'"),
    ({**BASE, "runz": []}, "unknown key"),
    ({"dataset": {"data_dir": "x", "synth": {"rows": 10}}, "runs": [{"model": "lr"}]}, "exactly one of"),
    ({**BASE}, "no runs"),
    ({**BASE, "runs": [{"model": "lr"}, {"model": "lr"}]}, "appears twice"),
    ({**BASE, "search": {"base": {"model": "lr"}, "space": {"learning_rate": {"normal": [0, 1]}}}}, "loguniform"),
    ({**BASE, "search": {"algorithm": "bohb", "base": {"model": "lr"}, "space": {"x": {"choice": [1]}}}}, "asha"),
])
def test_bad_study_files_name_the_file_and_the_problem(tmp_path: Path, data: dict, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError, match=message) as err:
        load_study(path)
    assert str(path) in str(err.value)


def test_config_names_are_readable_and_bounded() -> None:
    assert config_name({"model": "autoint+", "embedding": "hashed"}) == "autoint_plus-embedding=hashed"
    long = config_name({"model": "deepfm", "dnn_hidden_units": [400, 400, 400], "net_dropout": 0.123456,
                        "learning_rate": 0.00123456, "embedding_budget": "2.5MB", "sparse_learning_rate": 0.02})
    assert len(long) <= 80 and long.startswith("deepfm-")


SHIPPED = sorted((Path(__file__).resolve().parents[3] / "configs" / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_study_files_load_with_every_run_checked(path: Path) -> None:
    study, seeds = load_study(path), yaml.safe_load(path.read_text()).get("seeds")  # None: the loader's default
    assert study.trials and (seeds is None or {t.cfg.train.seed for t in study.trials} <= set(seeds))
