"""How long a ``recsys`` process takes to exit after its work, with and without ``gc.freeze()``.

    .venv/bin/python benchmarks/teardown.py [--rounds 4]

Each run is a fresh interpreter that imports torch and TorchRec (what every verb but ``synth``
loads), optionally freezes the objects as ``pipelines.cli.exit_quickly`` does, prints the wall
clock and exits; the teardown is the time from that print to the process's end, as the parent
sees it. Plain and frozen runs alternate, so the machine's drift hits both.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CHILD = """
import sys, time
import torch, torchrec  # noqa: F401
if sys.argv[1] == "frozen":
    from pipelines.cli import exit_quickly
    exit_quickly()
print(time.time(), flush=True)
"""


def teardown_seconds(kind: str) -> float:
    proc = subprocess.run([sys.executable, "-c", CHILD, kind], capture_output=True, text=True, check=True)
    ended = time.time()
    return ended - float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=4)
    a = p.parse_args()
    runs: dict[str, list[float]] = {"plain": [], "frozen": []}
    for _ in range(a.rounds):
        for kind in runs:
            runs[kind].append(teardown_seconds(kind))
    for kind, secs in runs.items():
        print(f"{kind:7s} teardown median {statistics.median(secs):.2f} s  (runs: "
              f"{', '.join(f'{s:.2f}' for s in secs)})")


if __name__ == "__main__":
    main()
