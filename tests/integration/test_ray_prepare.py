"""``recsys prepare --workers 2``: Ray tasks give the DATA_DIR single-process prepare gives."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from recsys.data.prepare import prepare_dataset
from recsys.errors import BadRowError
from recsys.features.spec import load_dataset_config

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def inputs(synth_criteo: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three files cut from the synthetic rows, one with a bad line, one of a single row."""
    base = tmp_path_factory.mktemp("ray_prepare")
    lines = synth_criteo[0].read_text().splitlines(keepends=True)[:20_000]
    lines[777] = "1\tnot\ta\tcriteo\trow\n"
    out = []
    for i, (a, b) in enumerate([(0, 9000), (9000, 9001), (9001, 20_000)]):
        out.append(base / f"day_{i}.tsv")
        out[-1].write_text("".join(lines[a:b]))
    return out


@pytest.mark.parametrize("split", ["random", "sequential"])
def test_distributed_prepare_equals_single_process(inputs: list[Path], tmp_path: Path, split: str) -> None:
    import dataclasses

    from recsys.distributed.ray_prepare import prepare_with_ray
    from recsys.features.spec import SplitConfig

    cfg = load_dataset_config("criteo")
    cfg = dataclasses.replace(cfg, split=SplitConfig(split, cfg.split.ratios, cfg.split.seed), min_count=2)  # type: ignore[arg-type]
    one = prepare_dataset(inputs, cfg, tmp_path / "one", "criteo")
    many = prepare_with_ray(inputs, cfg, tmp_path / "many", "criteo", workers=2)
    assert one.splits == many.splits and one.rejected_rows == many.rejected_rows == 1
    vocab = "features/vocab.parquet"
    assert (tmp_path / "one" / vocab).read_bytes() == (tmp_path / "many" / vocab).read_bytes()
    m1, m2 = (json.loads((tmp_path / d / "dataset.json").read_text()) for d in ("one", "many"))
    assert m1["features_hash"] == m2["features_hash"] and m1["source"] == m2["source"]
    for name in ("train", "val", "test"):
        a = pl.read_parquet(sorted((tmp_path / "one" / name).glob("part-*.parquet")))
        b = pl.read_parquet(sorted((tmp_path / "many" / name).glob("part-*.parquet")))
        assert a.equals(b), name
    r1, r2 = (pl.read_parquet(tmp_path / d / "rejects" / "rejects.parquet") for d in ("one", "many"))
    assert r1.equals(r2)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_distributed_prepare_strict_names_the_first_bad_row(inputs: list[Path], tmp_path: Path) -> None:
    from recsys.distributed.ray_prepare import prepare_with_ray

    with pytest.raises(BadRowError) as err:
        prepare_with_ray(inputs, load_dataset_config("criteo"), tmp_path / "x", "criteo", strict=True, workers=2)
    assert err.value.path == str(inputs[0]) and err.value.line == 778
    assert not (tmp_path / "x").exists() and not list(tmp_path.iterdir())


def test_distributed_prepare_reports_an_empty_file_as_itself(inputs: list[Path], tmp_path: Path) -> None:
    from recsys.distributed.ray_prepare import prepare_with_ray
    from recsys.errors import InputFileError

    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(InputFileError, match="input file is empty: .*empty.tsv"):
        prepare_with_ray([inputs[0], empty], load_dataset_config("criteo"), tmp_path / "x", "criteo", workers=2)
