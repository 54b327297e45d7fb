"""``recsys export RUN_DIR --out BUNDLE_DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from recsys.export.bundle import export_bundle
from recsys.files import check_output_dir


def main(argv: Sequence[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="recsys export", description="Package a finished run for scoring and serving.")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--overwrite", action="store_true", help="replace another recsys verb's output at --out")
    a = p.parse_args(argv)
    check_output_dir(a.out, "export", a.overwrite)
    manifest = export_bundle(a.run_dir, a.out)
    print(f"exported {manifest['model']} to {a.out}")
    return manifest
