"""Helpers shared by the benchmark scripts: timing, peak memory, synthetic data on demand."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence


def rss_mib(peak: bool = True) -> float:
    """This process's resident set size in MiB: its peak (``VmHWM``, resettable, else
    getrusage's ``ru_maxrss``) or its current value (``VmRSS``, else 0)."""
    key = "VmHWM:" if peak else "VmRSS:"
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 if peak else 0.0


def run_measured(cmd: Sequence[str], env: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """Run ``cmd`` in a child under /usr/bin/time -v: wall seconds and peak RSS (MB).
    ``env``: variables added to this process's environment for the child."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True,
                          env={**os.environ, **env} if env else None)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rss = next(int(line.split()[-1]) for line in proc.stderr.splitlines() if "Maximum resident" in line)
    return {"seconds": wall, "peak_rss_mb": rss / 1024, "stdout": proc.stdout}


def synth(path: Path, rows: int, fmt: str = "criteo", seed: int = 7) -> dict[str, Any]:
    """Write (once) a synthetic file and return its truth."""
    truth = Path(str(path) + ".truth.json")
    if not truth.is_file():
        from recsys.data.synth import write_synthetic

        write_synthetic(fmt, rows, path, seed)
    return json.loads(truth.read_text())


def recsys_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", *args]


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.0f}"
    return "" if v is None else str(v)
