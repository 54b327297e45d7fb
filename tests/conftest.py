"""Shared fixtures: small data built in-process; real samples read from ../shared/data."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

warnings.filterwarnings("ignore")
logging.getLogger("torchrec").setLevel(logging.ERROR)
logging.getLogger().setLevel(logging.ERROR)


def shared_file(relative: str) -> Path:
    """A real sample from ../shared/data, or skip with the reason."""
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"real sample {relative} not available: ../shared/data is absent beside the repository")
    return path


@pytest.fixture(scope="session")
def synth_criteo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """40k synthetic Criteo rows (raw TSV) and their truth."""
    from recsys.data.synth import write_synthetic

    path = tmp_path_factory.mktemp("synth") / "criteo.tsv"
    truth = write_synthetic("criteo", 40_000, path, seed=3)
    return path, truth


@pytest.fixture(scope="session")
def criteo_data(synth_criteo: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic Criteo rows prepared with the shipped criteo config."""
    from recsys.data.prepare import prepare_dataset
    from recsys.features.spec import load_dataset_config

    out = tmp_path_factory.mktemp("prepared") / "criteo"
    prepare_dataset([synth_criteo[0]], load_dataset_config("criteo"), out, "criteo")
    return out


def write_cross_tsv(path: Path, rows: int = 60_000, seed: int = 0, card: int = 8) -> Path:
    """Criteo-format rows whose click depends only on the pair (C1, C2): an XOR-like cross.

    ``p = sigmoid(2.5 * z1[v1] * z2[v2])`` with ``z = +-1`` balanced per value, so each field
    alone carries no signal (LR stays near AUC 0.5) and a pairwise model can reach ~0.8.
    """
    rng = np.random.default_rng(seed)
    v1, v2 = rng.integers(0, card, rows), rng.integers(0, card, rows)
    z = np.tile([1, -1], card // 2 + 1)[:card]
    p = 1 / (1 + np.exp(-2.5 * z[v1] * z[v2]))
    y = (rng.random(rows) < p).astype(int)
    noise = rng.integers(0, 50, (rows, 3))
    dense = "\t".join(["1"] * 13)
    lines = []
    for i in range(rows):
        cats = [f"{v1[i]:08x}", f"{v2[i]:08x}"] + [f"{n:08x}" for n in noise[i]] + [""] * 21
        lines.append(f"{y[i]}\t{dense}\t" + "\t".join(cats))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def cross_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared data where the label is a pure C1 x C2 interaction."""
    from recsys.data.prepare import prepare_dataset
    from recsys.features.spec import load_dataset_config

    base = tmp_path_factory.mktemp("cross")
    raw = write_cross_tsv(base / "cross.tsv")
    out = base / "data"
    prepare_dataset([raw], load_dataset_config("criteo"), out, "criteo")
    return out


@pytest.fixture(scope="session")
def hashed_data(synth_criteo: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic Criteo rows prepared with hash encoding (raw values -> stable 64-bit ids)."""
    import dataclasses

    from recsys.data.prepare import prepare_dataset
    from recsys.features.spec import load_dataset_config

    out = tmp_path_factory.mktemp("hashed") / "data"
    cfg = dataclasses.replace(load_dataset_config("criteo"), encoding="hash")
    prepare_dataset([synth_criteo[0]], cfg, out, "criteo")
    return out
