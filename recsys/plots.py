"""PNG figures for run reports (OptFS, OptInter): matplotlib on the Agg backend, written whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path, dpi: int = 110) -> None:
    """Write ``fig`` to ``path`` under a temporary name, rename, and free it."""
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=dpi, format="png")
    pyplot().close(fig)
    tmp.replace(path)
