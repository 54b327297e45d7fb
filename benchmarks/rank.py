"""Benchmark ``rank_dataset`` on synthetic Criteo rows.

    python benchmarks/rank.py [--rows 1000000] [--workdir DIR] [--sample N] [--pair-rows N]

Synthesizes ``--rows`` raw Criteo rows, prepares them (80/10/10 split), then ranks the
train split in a fresh child process so that its peak RSS is the ranking's own (not the
generator's or prepare's). Prints rows/s, wall seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import rss_mib  # noqa: E402


def _reset_peak() -> bool:
    """Reset the peak-RSS mark (Linux >= 4.0: write 5 to clear_refs); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def make_data(rows: int, work: Path, seed: int) -> tuple[Path, float, float]:
    """Synthesize and prepare; returns (DATA_DIR, synth seconds, prepare seconds)."""
    from recsys.data.prepare import prepare_dataset
    from recsys.data.synth import write_synthetic
    from recsys.features.spec import load_dataset_config

    t0 = time.perf_counter()
    write_synthetic("criteo", rows, work / "criteo.tsv", seed=seed)
    t1 = time.perf_counter()
    prepare_dataset([work / "criteo.tsv"], load_dataset_config("criteo"), work / "data", "criteo")
    return work / "data", t1 - t0, time.perf_counter() - t1


def rank_child(data: Path, out: Path, sample: Optional[int], pair_rows: Optional[int]) -> dict[str, Any]:
    """Run in the child process: rank and report timing and memory as a dict."""
    from recsys.ranking import rank_dataset

    kwargs: dict[str, Any] = {"sample": sample, "top_k": 20}
    if pair_rows is not None:
        kwargs["pair_rows"] = pair_rows
    import_peak = rss_mib()
    before = rss_mib(peak=False)
    reset = _reset_peak()
    t0 = time.perf_counter()
    result = rank_dataset(data, out, **kwargs)
    wall = time.perf_counter() - t0
    return {"rows": result.rows, "wall_s": wall, "rows_per_s": result.rows / wall,
            "batches": result.tables.batches, "pair_batches": result.tables.pair_batches,
            "fields": len(result.tables.fields), "rss_before_mib": before, "import_peak_mib": import_peak,
            "peak_reset": reset, "peak_rss_mib": rss_mib(),
            "top5": result.tables.relevance["Feature"].head(5).to_list()}


def main(argv: Optional[list[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=None, help="keep data here (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample", type=int, default=None)
    ap.add_argument("--pair-rows", type=int, default=None)
    ap.add_argument("--child", nargs=2, metavar=("DATA_DIR", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(rank_child(Path(args.child[0]), Path(args.child[1]), args.sample, args.pair_rows)))
        return
    with tempfile.TemporaryDirectory(prefix="rank-bench-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        data, synth_s, prep_s = make_data(args.rows, work, args.seed)
        cmd = [sys.executable, __file__, "--child", str(data), str(work / "report")]
        cmd += ["--sample", str(args.sample)] if args.sample else []
        cmd += ["--pair-rows", str(args.pair_rows)] if args.pair_rows else []
        child = subprocess.run(cmd, check=True, capture_output=True, text=True)
        r = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"synthetic rows: {args.rows:,} (synth {synth_s:.1f} s, prepare {prep_s:.1f} s)")
    print(f"ranked train rows: {r['rows']:,} x {r['fields']} fields, {r['batches']} minibatches, "
          f"pairs on {r['pair_batches']} minibatches")
    print(f"rank_dataset wall: {r['wall_s']:.2f} s   rows/s: {r['rows_per_s']:,.0f}")
    scope = "during rank_dataset" if r["peak_reset"] else "whole process, imports included"
    print(f"peak RSS ({scope}): {r['peak_rss_mib']:.0f} MiB; RSS before ranking {r['rss_before_mib']:.0f} MiB, "
          f"import peak {r['import_peak_mib']:.0f} MiB (torch via recsys imports)")
    print(f"top 5 fields: {', '.join(r['top5'])}")


if __name__ == "__main__":
    main()
