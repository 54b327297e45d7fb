"""Synthetic logs: exact raw formats, determinism, planted truth."""

from __future__ import annotations

import json
from pathlib import Path

from recsys.data.synth import write_synthetic


def test_criteo_format_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "c.tsv"
    truth = write_synthetic("criteo", 3000, out, seed=1)
    lines = out.read_text().splitlines()
    assert len(lines) == 3000
    for line in lines[:200]:
        fields = line.split("\t")
        assert len(fields) == 40 and fields[0] in ("0", "1")
        assert all(f == "" or f.isdigit() for f in fields[1:14])
        assert all(f == "" or (len(f) == 8 and all(c in "0123456789abcdef" for c in f)) for f in fields[14:])
    saved = json.loads(Path(str(out) + ".truth.json").read_text())
    assert saved["oracle_auc"] == truth["oracle_auc"] and 0.7 < truth["oracle_auc"] < 1.0
    assert {"informative", "noise", "interactions", "redundant", "oracle_auc"} <= set(saved)
    assert ["C13", "C26"] in saved["redundant"] and saved["interactions"]
    assert not set(saved["informative"]) & set(saved["noise"])


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.tsv", tmp_path / "b.tsv", tmp_path / "c.tsv"
    write_synthetic("criteo", 1000, a, seed=5)
    write_synthetic("criteo", 1000, b, seed=5)
    write_synthetic("criteo", 1000, c, seed=6)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_avazu_header_and_hours(tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    write_synthetic("avazu", 2400, out, seed=0)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,click,hour,C1,banner_pos,site_id")
    hours = [line.split(",")[2] for line in lines[1:]]
    assert all(len(h) == 8 and h.startswith("1410") for h in hours)
    assert len({h[:6] for h in hours}) == 10  # ten days, in order
    assert hours == sorted(hours)
