"""PNG figures for run reports (OptFS, OptInter): matplotlib on the Agg backend, written whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recsys.files import write_file_atomic


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path, dpi: int = 110) -> None:
    """Write ``fig`` to ``path`` under a temporary name, rename, and free it."""
    try:
        write_file_atomic(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    finally:
        pyplot().close(fig)
