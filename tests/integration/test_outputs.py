"""No verb destroys what the user had at ``--out``: a foreign directory and a regular file survive
byte for byte (exit 2, one line); an earlier output of the same verb is replaced; another verb's
output only with ``--overwrite``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from pipelines.cli import main as cli

SMALL_TRAIN = ["--epochs", "1", "--no-progress", "--set", "dnn_hidden_units=[16]", "--set", "batch_size=2048"]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One output of every verb: raw file, DATA_DIR, run, bundle, rank report, scores."""
    base = tmp_path_factory.mktemp("outputs")
    paths = {k: base / k for k in ("raw.tsv", "data", "run", "bundle", "report", "scores.parquet")}
    assert cli(["synth", "--format", "criteo", "--rows", "3000", "--out", str(paths["raw.tsv"])]) == 0
    assert cli(["prepare", str(paths["raw.tsv"]), "--format", "criteo", "--out", str(paths["data"])]) == 0
    assert cli(["train", str(paths["data"]), "--model", "deepfm", "--out", str(paths["run"]), *SMALL_TRAIN]) == 0
    assert cli(["export", str(paths["run"]), "--out", str(paths["bundle"])]) == 0
    assert cli(["rank", str(paths["data"]), "--out", str(paths["report"]), "--no-pairs"]) == 0
    assert cli(["score", str(paths["bundle"]), str(paths["raw.tsv"]), "--format", "criteo",
                "--out", str(paths["scores.parquet"])]) == 0
    return paths


def _verbs(made: dict[str, Path]) -> dict[str, Callable[[Path], list[str]]]:
    """verb -> argv writing its output at the given path."""
    return {
        "synth": lambda out: ["synth", "--format", "criteo", "--rows", "500", "--out", str(out)],
        "prepare": lambda out: ["prepare", str(made["raw.tsv"]), "--format", "criteo", "--out", str(out)],
        "train": lambda out: ["train", str(made["data"]), "--model", "lr", "--out", str(out), "--epochs", "1",
                              "--no-progress"],
        "export": lambda out: ["export", str(made["run"]), "--out", str(out)],
        "rank": lambda out: ["rank", str(made["data"]), "--out", str(out), "--no-pairs"],
        "score": lambda out: ["score", str(made["bundle"]), str(made["raw.tsv"]), "--format", "criteo",
                              "--out", str(out)],
    }


VERBS = ["synth", "prepare", "train", "export", "rank", "score"]


@pytest.mark.parametrize("verb", VERBS)
def test_foreign_directory_and_regular_file_survive(verb: str, made: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    argv = _verbs(made)[verb]
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_bytes(b"my notes\x00\x01")
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"keep me")
    for target in (folder, plain):
        for extra in ([], ["--overwrite"] if verb not in ("synth", "score") else []):
            assert cli(argv(target) + extra) == 2
    assert (folder / "notes.txt").read_bytes() == b"my notes\x00\x01" and sorted(folder.iterdir()) == [folder / "notes.txt"]
    assert plain.read_bytes() == b"keep me"
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith(f"recsys {verb}: error:") for line in err)


@pytest.mark.parametrize("verb", VERBS)
def test_an_earlier_output_of_the_same_verb_is_replaced(verb: str, made: dict[str, Path], tmp_path: Path) -> None:
    argv = _verbs(made)[verb]
    out = tmp_path / ("out.tsv" if verb == "synth" else "out.parquet" if verb == "score" else "out")
    assert cli(argv(out)) == 0
    before = {p.name for p in tmp_path.iterdir()}
    assert cli(argv(out)) == 0
    assert {p.name for p in tmp_path.iterdir()} == before  # replaced in place: no temporary left behind


@pytest.mark.parametrize("verb,other", [("rank", "run"), ("export", "data"), ("prepare", "report")])
def test_another_verbs_output_needs_overwrite(verb: str, other: str, made: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    target = tmp_path / other
    shutil.copytree(made[other], target)
    assert cli(_verbs(made)[verb](target)) == 2 and target.is_dir()
    assert cli(_verbs(made)[verb](target) + ["--overwrite"]) == 0


def test_corrupt_bundle_is_one_line(made: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(made["bundle"], bundle)
    weights = (bundle / "model.pt").read_bytes()
    (bundle / "model.pt").write_bytes(weights[: len(weights) // 2])
    assert cli(["score", str(bundle), str(made["raw.tsv"]), "--format", "criteo", "--out",
                str(tmp_path / "s.parquet")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.pt" in err[0] and not (tmp_path / "s.parquet").exists()
