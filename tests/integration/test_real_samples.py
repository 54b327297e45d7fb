"""Every real sample in ../shared/data goes through prepare (and training end to end)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import polars as pl
import pytest

from recsys.data.dataset_dir import open_dataset
from recsys.data.prepare import prepare_dataset
from recsys.features.spec import SplitConfig, load_dataset_config
from tests.conftest import shared_file

CRITEO, AVAZU = load_dataset_config("criteo"), load_dataset_config("avazu")
ALL_TRAIN = SplitConfig("random", (1.0, 0.0, 0.0))


def _decode(data: Path, field: str, ident: int) -> str:
    vocab = pl.read_parquet(data / "features" / "vocab.parquet")
    return vocab.filter((pl.col("field") == field) & (pl.col("id") == ident))["value"].item()


def test_criteo_head_counts_and_known_row_bucketized(tmp_path: Path) -> None:
    src = shared_file("criteo_head/criteo_head9999.tsv")
    r = prepare_dataset([src], dataclasses.replace(CRITEO, split=ALL_TRAIN), tmp_path / "d", "criteo")
    assert r.splits["train"] == 9999 and r.rejected_rows == 0
    row = pl.read_parquet(tmp_path / "d" / "train").row(0, named=True)
    # Line 1: 0  1 1 5 0 1382 4 15 2 181 1 2 <missing> 2  68fd1e64 80e26c9b ...
    assert row["label"] == 0
    assert _decode(tmp_path / "d", "C1", row["C1"]) == "68fd1e64"
    assert _decode(tmp_path / "d", "C2", row["C2"]) == "80e26c9b"
    assert _decode(tmp_path / "d", "I5", row["I5"]) == "52"  # floor(ln(1382)^2) = floor(52.29)
    assert _decode(tmp_path / "d", "I3", row["I3"]) == "2"  # floor(ln(5)^2) = floor(2.59)
    assert _decode(tmp_path / "d", "I1", row["I1"]) == "1"  # x <= 2 keeps its value
    assert _decode(tmp_path / "d", "I12", row["I12"]) == ""  # missing is its own value
    ctr = pl.read_parquet(tmp_path / "d" / "train")["label"].mean()
    assert abs(ctr - 0.218) < 0.005  # the README's 21.8% clicks


def test_criteo_head_log_transform_with_missing_indicator(tmp_path: Path) -> None:
    src = shared_file("criteo_head/criteo_head9999.tsv")
    cfg = dataclasses.replace(CRITEO, dense_transform="log", missing_indicator=True, split=ALL_TRAIN)
    prepare_dataset([src], cfg, tmp_path / "d", "criteo")
    info = open_dataset(tmp_path / "d")
    assert info.dense_fields[:2] == ["I1", "I2"] and "I12_missing" in info.dense_fields
    row = pl.read_parquet(info.split_files("train")).row(0, named=True)
    assert row["I1"] == pytest.approx(math.log(2)) and row["I5"] == pytest.approx(math.log(1383))
    assert row["I4"] == 0.0 and row["I12"] == 0.0 and row["I12_missing"] == 1.0 and row["I1_missing"] == 0.0


@pytest.mark.parametrize("short_rows, kept, rejected", [("reject", 502, 498), ("pad", 1000, 0)])
def test_criteo_ragged_rows_rejected_or_padded(tmp_path: Path, short_rows: str, kept: int, rejected: int) -> None:
    """498 of the 1,000 lines lost their trailing empty fields: reject (default) or pad."""
    src = shared_file("criteo_ragged_1k/train.txt")
    cfg = dataclasses.replace(CRITEO, short_rows=short_rows)
    r = prepare_dataset([src], cfg, tmp_path / "d", "criteo")
    assert sum(r.splits.values()) == kept and r.rejected_rows == rejected and r.input_rows == 1000
    if rejected:
        rejects = pl.read_parquet(tmp_path / "d" / "rejects" / "rejects.parquet")
        assert set(rejects["_reason"].str.extract(r"got (\d+)").to_list()) <= {"37", "38", "39"}


def test_padded_ragged_rows_equal_the_complete_rows(tmp_path: Path) -> None:
    """Padding restores exactly the rows of the intact head file (same first 1,000 lines)."""
    ragged, head = shared_file("criteo_ragged_1k/train.txt"), shared_file("criteo_head/criteo_head9999.tsv")
    intact = tmp_path / "head1k.tsv"
    intact.write_text("".join(head.read_text().splitlines(keepends=True)[:1000]))
    cfg = dataclasses.replace(CRITEO, short_rows="pad", split=ALL_TRAIN, min_count=1)
    prepare_dataset([ragged], cfg, tmp_path / "a", "criteo")
    prepare_dataset([intact], cfg, tmp_path / "b", "criteo")
    assert pl.read_parquet(tmp_path / "a" / "train").equals(pl.read_parquet(tmp_path / "b" / "train"))


def test_avazu_head_with_header_and_time_fields(tmp_path: Path) -> None:
    src = shared_file("avazu_head/avazu_head8999.csv")
    r = prepare_dataset([src], AVAZU, tmp_path / "d", "avazu")
    assert sum(r.splits.values()) == 8999 and r.rejected_rows == 0
    info = open_dataset(tmp_path / "d")
    assert {"hour_of_day", "weekday", "weekend"} <= set(info.categorical_fields)
    assert "id" not in info.categorical_fields and "hour" not in info.categorical_fields
    vocab = pl.read_parquet(tmp_path / "d" / "features" / "vocab.parquet")
    assert vocab.filter(pl.col("field") == "hour_of_day")["value"].to_list() == ["0"]  # all rows at 14102100
    assert vocab.filter(pl.col("field") == "weekday")["value"].to_list() == ["2"]  # 2014-10-21 was a Tuesday


def test_avazu_split_files_with_and_without_header(tmp_path: Path) -> None:
    files = [shared_file(f"avazu_split/{n}.csv") for n in ("train", "dev", "test")]
    r = prepare_dataset(files, dataclasses.replace(AVAZU, split=SplitConfig("by_file")), tmp_path / "d", "avazu")
    assert r.rejected_rows == 0 and r.splits == {"train": 8087 + 480, "val": 216, "test": 216}


def test_real_samples_train_end_to_end(tmp_path: Path) -> None:
    from recsys.training.job import run_training
    from recsys.training.runconfig import resolve

    for fmt, rel in (("criteo", "criteo_head/criteo_head9999.tsv"), ("avazu", "avazu_head/avazu_head8999.csv")):
        data = tmp_path / fmt
        prepare_dataset([shared_file(rel)], load_dataset_config(fmt), data, fmt)
        cfg = resolve("deepfm", overrides={"batch_size": 512, "dnn_hidden_units": [64, 64], "epochs": 2})
        m = run_training(data, tmp_path / f"run_{fmt}", cfg, progress=False)
        assert m["test"]["rows"] == open_dataset(data).manifest["splits"]["test"]
        assert 0.55 < m["test"]["auc"] < 1.0 and math.isfinite(m["test"]["logloss"])


@pytest.mark.parametrize("fmt,rel,strategy", [("criteo", "criteo_head/criteo_head9999.tsv", "vocab"),
                                              ("criteo", "criteo_head/criteo_head9999.tsv", "hashed"),
                                              ("avazu", "avazu_head/avazu_head8999.csv", "unified")])
def test_real_samples_optfs_end_to_end(tmp_path: Path, fmt: str, rel: str, strategy: str) -> None:
    """OptFS on real rows (smoke): search, pruned retrain, export and score the raw file."""
    from recsys.export.bundle import export_bundle
    from recsys.scoring.predictor import Predictor
    from recsys.training.job import run_training
    from recsys.training.runconfig import resolve

    data = tmp_path / "data"
    prepare_dataset([shared_file(rel)], load_dataset_config(fmt), data, fmt)
    rows = open_dataset(data).manifest["splits"]["train"]
    cfg = resolve("deepfm", overrides={"batch_size": 512, "dnn_hidden_units": [64, 64], "epochs": 2,
                                       "embedding": strategy, "embedding_budget": None if strategy == "vocab" else "0.25MB",
                                       "optfs": True, "optfs_search_epochs": 3, "optfs_rewind_epoch": 0,
                                       "optfs_lambda": 0.18 / rows, "optfs_learning_rate": 0.25 / (2 * rows / 512) ** 0.5})
    m = run_training(data, tmp_path / "run", cfg, progress=False)
    assert 0 < m["optfs"]["kept_rows"] < m["optfs"]["total_rows"]
    assert f"({strategy} embeddings)" in (tmp_path / "run" / "optfs" / "README.txt").read_text()
    assert m["embedding_bytes"] < m["embedding_bytes_unpruned"] and 0.55 < m["test"]["auc"] < 1.0
    export_bundle(tmp_path / "run", tmp_path / "bundle")
    result = Predictor.load(tmp_path / "bundle").score_files([shared_file(rel)], fmt, tmp_path / "s.parquet")
    scores = pl.read_parquet(tmp_path / "s.parquet")["score"]
    assert result.rows == scores.len() and scores.null_count() == 0
