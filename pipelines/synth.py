"""``recsys synth --format criteo|avazu --rows N [--seed S] --out FILE``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from recsys.data.synth import write_synthetic
from recsys.files import check_output_file


def main(argv: Sequence[str]) -> dict:
    p = argparse.ArgumentParser(prog="recsys synth", description="Write synthetic logs in the raw format with a truth file.")
    p.add_argument("--format", required=True, choices=["criteo", "avazu"])
    p.add_argument("--rows", required=True, type=float, help="row count (1e6 allowed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path)
    a = p.parse_args(argv)
    check_output_file(a.out, "synth", lambda f: Path(f"{f}.truth.json").is_file())
    truth = write_synthetic(a.format, int(a.rows), a.out, a.seed)
    print(f"wrote {int(a.rows):,} {a.format} rows to {a.out}; oracle AUC {truth['oracle_auc']:.4f}")
    return truth
