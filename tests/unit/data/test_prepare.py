"""prepare: encoding, splits, rejects, atomic output, errors."""

from __future__ import annotations

import dataclasses
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys.data.dataset_dir import open_dataset
from recsys.data.prepare import prepare_dataset
from recsys.errors import BadRowError, DataDirError, InputFileError
from recsys.features.spec import SplitConfig, load_dataset_config

CRITEO = load_dataset_config("criteo")


def _rows(tmp: Path, lines: list[str], name: str = "x.tsv") -> Path:
    path = tmp / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _line(label: str = "1", dense: str = "1", cat: str = "abcd1234") -> str:
    return "\t".join([label] + [dense] * 13 + [cat] * 26)


def test_counts_add_up_and_manifest_keys(synth_criteo: tuple[Path, dict], criteo_data: Path) -> None:
    info = open_dataset(criteo_data)
    m = info.manifest
    assert {"format", "features", "splits", "rejected_rows", "source"} <= set(m)
    assert sum(m["splits"].values()) + m["rejected_rows"] == 40_000
    assert m["source"][0]["bytes"] == synth_criteo[0].stat().st_size and len(m["source"][0]["sha256"]) == 64
    assert abs(m["splits"]["train"] / 40_000 - 0.8) < 0.02
    assert [f["name"] for f in m["features"]][:2] == ["I1", "I2"]  # bucketized dense are categorical
    train = pl.read_parquet(info.split_files("train"))
    assert train.height == m["splits"]["train"] and train.columns[0] == "label"
    assert all(train[c].dtype == pl.Int32 for c in info.categorical_fields)  # vocab ids; hashed ids are Int64
    cards = info.cardinalities
    assert all(int(train[c].max()) < cards[c] for c in info.categorical_fields)


def test_row_groups_are_sized_for_streaming(criteo_data: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(open_dataset(criteo_data).split_files("train")[0]).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert all(s == 65536 for s in sizes[:-1]) or len(sizes) == 1


def test_vocab_ids_follow_counts_and_min_count(tmp_path: Path) -> None:
    lines = [_line(cat="aaaaaaaa")] * 5 + [_line(cat="bbbbbbbb")] * 3 + [_line(cat="cccccccc")]
    cfg = dataclasses.replace(CRITEO, split=SplitConfig("random", (1.0, 0.0, 0.0)))
    prepare_dataset([_rows(tmp_path, lines)], cfg, tmp_path / "d", "criteo")
    vocab = pl.read_parquet(tmp_path / "d" / "features" / "vocab.parquet").filter(pl.col("field") == "C1")
    assert vocab.select("value", "id", "count").rows() == [("aaaaaaaa", 1, 5), ("bbbbbbbb", 2, 3)]
    ids = pl.read_parquet(tmp_path / "d" / "train")["C1"].to_list()
    assert ids == [1] * 5 + [2] * 3 + [0]  # "cccccccc" seen once < min_count 2 -> OOV


def test_vocab_does_not_depend_on_file_order(synth_criteo: tuple[Path, dict], tmp_path: Path) -> None:
    lines = synth_criteo[0].read_text().splitlines(keepends=True)
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_text("".join(lines[:15000]))
    b.write_text("".join(lines[15000:30000]))
    cfg = dataclasses.replace(CRITEO, split=SplitConfig("random", (1.0, 0.0, 0.0)))
    prepare_dataset([a, b], cfg, tmp_path / "ab", "criteo")
    prepare_dataset([b, a], cfg, tmp_path / "ba", "criteo")
    va = pl.read_parquet(tmp_path / "ab" / "features" / "vocab.parquet")
    vb = pl.read_parquet(tmp_path / "ba" / "features" / "vocab.parquet")
    assert va.equals(vb)


def test_vocab_does_not_depend_on_thread_count(synth_criteo: tuple[Path, dict], tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from recsys.data.prepare import prepare_dataset;"
            "from recsys.features.spec import load_dataset_config as l;"
            "prepare_dataset([Path(sys.argv[1])], l('criteo'), Path(sys.argv[2]), 'criteo')")
    for threads in ("1", "2"):
        subprocess.run([sys.executable, "-c", code, str(synth_criteo[0]), str(tmp_path / threads)], check=True,
                       env={"POLARS_MAX_THREADS": threads, "PATH": "/usr/bin:/bin"})
    v1 = (tmp_path / "1" / "features" / "vocab.parquet").read_bytes()
    v2 = (tmp_path / "2" / "features" / "vocab.parquet").read_bytes()
    t1 = pl.read_parquet(tmp_path / "1" / "train")
    t2 = pl.read_parquet(tmp_path / "2" / "train")
    assert v1 == v2 and t1.equals(t2)


def test_bad_rows_are_rejected_counted_and_located(tmp_path: Path) -> None:
    lines = [_line(), _line(label="2"), _line(dense="x"), "1\tshort", _line(), ""]
    path = _rows(tmp_path, lines)
    result = prepare_dataset([path], CRITEO, tmp_path / "d", "criteo")
    assert result.rejected_rows == 4 and sum(result.splits.values()) == 2
    rejects = pl.read_parquet(tmp_path / "d" / "rejects" / "rejects.parquet").sort("_line")
    assert rejects["_line"].to_list() == [2, 3, 4, 6]
    reasons = rejects["_reason"].to_list()
    assert "label must be 0 or 1" in reasons[0] and "I1: not an integer" in reasons[1]
    assert "expected 40 fields, got 2" in reasons[2] and reasons[3] == "empty line"
    assert json.loads((tmp_path / "d" / "dataset.json").read_text())["rejected_rows"] == 4


def test_strict_stops_at_first_bad_row_and_leaves_nothing(tmp_path: Path) -> None:
    path = _rows(tmp_path, [_line(), _line(), _line(label="7")])
    with pytest.raises(BadRowError, match=r"x.tsv:3: label: label must be 0 or 1, got '7'"):
        prepare_dataset([path], CRITEO, tmp_path / "d", "criteo", strict=True)
    assert not (tmp_path / "d").exists() and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"\x1f\x8bnot really gzip", "cannot read")])
def test_empty_or_corrupt_input_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / ("in.gz" if content else "in.tsv")
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        prepare_dataset([path], CRITEO, tmp_path / "d", "criteo")
    assert not (tmp_path / "d").exists()


def test_missing_file_error_and_cli_exit_code(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        prepare_dataset([tmp_path / "nope.tsv"], CRITEO, tmp_path / "d", "criteo")
    from pipelines.cli import main

    assert main(["prepare", str(tmp_path / "nope.tsv"), "--format", "criteo", "--out", str(tmp_path / "d")]) == 2


def test_gzip_and_many_files_give_the_same_rows(synth_criteo: tuple[Path, dict], tmp_path: Path) -> None:
    data = synth_criteo[0].read_bytes()
    gz = tmp_path / "day_0.gz"
    gz.write_bytes(gzip.compress(data))
    cfg = dataclasses.replace(CRITEO, split=SplitConfig("sequential"))
    prepare_dataset([gz], cfg, tmp_path / "gz", "criteo")
    prepare_dataset([synth_criteo[0]], cfg, tmp_path / "plain", "criteo")
    assert pl.read_parquet(tmp_path / "gz" / "test").equals(pl.read_parquet(tmp_path / "plain" / "test"))


def test_sequential_split_puts_the_last_rows_in_test(tmp_path: Path) -> None:
    lines = [_line(cat=f"{i:08x}") for i in range(100)]
    cfg = dataclasses.replace(CRITEO, min_count=1, split=SplitConfig("sequential"))
    prepare_dataset([_rows(tmp_path, lines)], cfg, tmp_path / "d", "criteo")
    vocab = pl.read_parquet(tmp_path / "d" / "features" / "vocab.parquet").filter(pl.col("field") == "C1")
    assert set(vocab["value"]) == {f"{i:08x}" for i in range(80)}  # fitted on train only
    assert pl.read_parquet(tmp_path / "d" / "test")["C1"].to_list() == [0] * 10  # unseen in train -> OOV


def test_by_file_and_x4_splits(synth_criteo: tuple[Path, dict], tmp_path: Path) -> None:
    lines = synth_criteo[0].read_text().splitlines(keepends=True)[:4000]
    days = []
    for d in range(3):
        days.append(tmp_path / f"day_{d}")
        days[-1].write_text("".join(lines[d * 1000 : (d + 1) * 1000]))
    r = prepare_dataset(days, dataclasses.replace(CRITEO, split=SplitConfig("by_file")), tmp_path / "bf", "criteo")
    assert r.splits == {"train": 2000, "val": 500, "test": 500}
    x4 = tmp_path / "x4.tsv"
    x4.write_text("".join(lines))
    r = prepare_dataset([x4], dataclasses.replace(CRITEO, split=SplitConfig("criteo_x4")), tmp_path / "x4", "criteo")
    assert r.splits == {"train": 3200, "val": 400, "test": 400}
    labels = np.array([int(line[0]) for line in lines])
    test_ctr = pl.read_parquet(tmp_path / "x4" / "test")["label"].mean()
    assert abs(test_ctr - labels.mean()) < 0.005  # stratified


def test_hash_encoding_gives_stable_64bit_ids(tmp_path: Path) -> None:
    from recsys.features.hashing import hash_string

    cfg = dataclasses.replace(CRITEO, encoding="hash", split=SplitConfig("random", (1.0, 0.0, 0.0)))
    prepare_dataset([_rows(tmp_path, [_line(cat="68fd1e64")] * 3)], cfg, tmp_path / "d", "criteo")
    train = pl.read_parquet(tmp_path / "d" / "train")
    assert train["C1"].to_list() == [hash_string("68fd1e64", "C1")] * 3
    assert open_dataset(tmp_path / "d").encoding == "hash"


def test_open_dataset_refuses_incomplete_or_foreign_dirs(criteo_data: Path, tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match="not found"):
        open_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataDirError, match="no dataset.json"):
        open_dataset(tmp_path / "empty")
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(criteo_data, copy)
    manifest = json.loads((copy / "dataset.json").read_text())
    manifest["version"] = 99
    (copy / "dataset.json").write_text(json.dumps(manifest))
    with pytest.raises(DataDirError, match="version 99"):
        open_dataset(copy)


def test_parquet_input_goes_through_the_same_rules(synth_criteo: tuple[Path, dict], tmp_path: Path) -> None:
    cols = list(CRITEO.columns)
    frame = pl.read_csv(synth_criteo[0], separator="\t", has_header=False, new_columns=cols,
                        schema_overrides={c: pl.String for c in cols}, n_rows=2000, quote_char=None)
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("x")).otherwise(pl.col("I1")).alias("I1"))
    src = tmp_path / "in.parquet"
    frame.write_parquet(src)
    cfg = dataclasses.replace(CRITEO, split=SplitConfig("sequential"))
    r = prepare_dataset([src], cfg, tmp_path / "pq", "parquet")
    assert r.rejected_rows == 1 and sum(r.splits.values()) == 1999
    text = tmp_path / "in.tsv"
    frame.write_csv(text, separator="\t", include_header=False, quote_style="never", null_value="")
    prepare_dataset([text], cfg, tmp_path / "tsv", "criteo")
    for split in ("train", "val", "test"):
        assert pl.read_parquet(tmp_path / "pq" / split).equals(pl.read_parquet(tmp_path / "tsv" / split))


def test_small_blocks_and_parallel_workers_change_nothing(synth_criteo: tuple[Path, dict], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """~100 blocks of 64 KB (lines cut at block ends, several count merges, two workers) give
    byte-identical vocabularies and the same rows as the default single ~10 MB block."""
    from recsys.data import raw

    prepare_dataset([synth_criteo[0]], CRITEO, tmp_path / "big", "criteo")
    monkeypatch.setattr(raw, "BLOCK_BYTES", 1 << 16)
    prepare_dataset([synth_criteo[0]], CRITEO, tmp_path / "small", "criteo")
    for name in ("train", "val", "test"):
        assert pl.read_parquet(tmp_path / "big" / name).equals(pl.read_parquet(tmp_path / "small" / name))
    vocab = "features/vocab.parquet"
    assert (tmp_path / "big" / vocab).read_bytes() == (tmp_path / "small" / vocab).read_bytes()


def test_fast_and_validating_parse_paths_agree(synth_criteo: tuple[Path, dict]) -> None:
    """A clean block is parsed with typed dense columns; one bad row sends the block through the
    validating path, which must keep every other row exactly as the fast path reads it."""
    from recsys.data import raw

    text = b"".join(synth_criteo[0].read_bytes().splitlines(keepends=True)[:3000])
    fast = raw._parse_typed(text, 1, 3000, 0, CRITEO)
    assert fast is not None and fast["I1"].dtype == pl.Int64
    for bad in (_line(dense=" 5"), _line(dense="1.5"), _line(label="01"), "1\tshort"):
        good, rejects = raw.parse_block(text + (bad + "\n").encode(), 1, 0, CRITEO)
        assert rejects["_line"].to_list() == [3001], bad
        assert raw.typed_columns(good, CRITEO).equals(raw.typed_columns(fast, CRITEO))


def test_a_line_that_is_not_utf8_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_bytes(("\n".join([_line(), _line(cat="ab\udcffcd").encode("utf-8", "surrogateescape").decode("latin-1"),
                                 _line()]) + "\n").encode("latin-1"))
    result = prepare_dataset([path], dataclasses.replace(CRITEO, min_count=1), tmp_path / "d", "criteo")
    assert result.rejected_rows == 1 and sum(result.splits.values()) == 2
    rejects = pl.read_parquet(tmp_path / "d" / "rejects" / "rejects.parquet")
    assert rejects.select("_line", "_reason").rows() == [(2, "not valid UTF-8")]
    assert "ab\ufffdcd" in rejects["_raw"][0]
    with pytest.raises(BadRowError, match=r"x.tsv:2: not valid UTF-8"):
        prepare_dataset([path], CRITEO, tmp_path / "strict", "criteo", strict=True)
