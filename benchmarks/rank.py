"""Benchmark ``rank_dataset`` on synthetic Criteo rows.

    python benchmarks/rank.py [--rows 1000000] [--workdir DIR] [--sample N] [--pair-rows N]
                              [--baseline outrank [--outrank BIN]]

Synthesizes ``--rows`` raw Criteo rows, prepares them (80/10/10 split), then ranks the
train split in a fresh child process so that its peak RSS is the ranking's own (not the
generator's or prepare's). Prints rows/s, wall seconds and peak RSS.

``--baseline outrank`` also runs the outrank package (``outrank`` on PATH, or ``--outrank``;
``../shared/peers/setup_peers.sh`` installs 0.97.5) on the same train rows written as its
``csv-raw`` input, with its MI-numba-randomized feature-label ranking on 2 threads, and our
like-for-like ``score="outrank", pairs=False`` ranking in another child: wall seconds, peak
RSS of each, and the Spearman correlation of the two field orders.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import rss_mib, run_measured  # noqa: E402


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


def rank_child(data: Path, out: Path, sample: Optional[int], pair_rows: Optional[int],
               like_outrank: bool = False) -> dict[str, Any]:
    """Run in the child process: rank and report timing and memory as a dict."""
    from recsys.ranking import rank_dataset

    kwargs: dict[str, Any] = {"sample": sample, "top_k": 20}
    if like_outrank:
        kwargs.update(score="outrank", pairs=False)
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
            "top5": result.tables.relevance["Feature"].head(5).to_list(),
            "order": result.tables.relevance["Feature"].to_list()}


def outrank_bin(given: Optional[str]) -> str:
    """The outrank CLI: ``given``, else on PATH, else the peers venv's."""
    found = given or shutil.which("outrank")
    venv = Path(os.environ.get("TMPDIR", "/tmp")) / "peers" / "venv" / "bin" / "outrank"
    if found:
        return found
    if venv.is_file():
        return str(venv)
    raise SystemExit("outrank not found: run ../shared/peers/setup_peers.sh or pass --outrank BIN")


def run_outrank(data: Path, work: Path, binary: str) -> dict[str, Any]:
    """outrank 0.97.5 on the train split (as its csv-raw input): wall s, peak RSS, field order."""
    import polars as pl

    from recsys.data.dataset_dir import open_dataset

    info = open_dataset(data)
    src = work / "outrank_in"
    src.mkdir(parents=True, exist_ok=True)
    pl.concat([pl.read_parquet(f) for f in info.split_files("train")]).write_csv(src / "data.csv")
    out = work / "outrank_out"
    shutil.rmtree(out, ignore_errors=True)
    r = run_measured([binary, "--task", "ranking", "--data_path", str(src), "--data_source", "csv-raw",
                      "--heuristic", "MI-numba-randomized", "--label_column", "label", "--subsampling", "1",
                      "--num_threads", "2", "--output_folder", str(out)])
    # The ranking task writes feature-label scores as pairs "NAME-(card; coverage)" x "label-(...)".
    pairs = pl.read_csv(out / "pairwise_ranks.tsv", separator="\t")
    with_label = pairs.filter(pl.col("FeatureA").str.starts_with("label-(")
                              & ~pl.col("FeatureB").str.starts_with("label-("))
    ranked = with_label.sort("Score", descending=True)["FeatureB"].to_list()
    return {"wall_s": r["seconds"], "peak_rss_mib": r["peak_rss_mb"], "order": [n.split("-(")[0] for n in ranked]}


def spearman(a: list[str], b: list[str]) -> float:
    """Spearman rank correlation of two orders over their common names."""
    common = [n for n in a if n in set(b)]
    rank_b = {n: i for i, n in enumerate(x for x in b if x in set(common))}
    n = len(common)
    d2 = sum((i - rank_b[name]) ** 2 for i, name in enumerate(common))
    return 1 - 6 * d2 / (n * (n * n - 1))


def main(argv: Optional[list[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=None, help="keep data here (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample", type=int, default=None)
    ap.add_argument("--pair-rows", type=int, default=None)
    ap.add_argument("--baseline", choices=["outrank"], help="also run the outrank package on the same rows")
    ap.add_argument("--outrank", help="the outrank CLI (default: on PATH, else the peers venv's)")
    ap.add_argument("--child", nargs=2, metavar=("DATA_DIR", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--like-outrank", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(rank_child(Path(args.child[0]), Path(args.child[1]), args.sample, args.pair_rows,
                                    args.like_outrank)))
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
        if args.baseline:
            binary = outrank_bin(args.outrank)
            t0 = time.perf_counter()
            like = subprocess.run([*cmd[:-1], str(work / "report_outrank"), "--like-outrank"], check=True,
                                  capture_output=True, text=True)
            ours = json.loads(like.stdout.strip().splitlines()[-1]) | {"process_s": time.perf_counter() - t0}
            theirs = run_outrank(data, work, binary)
    print(f"synthetic rows: {args.rows:,} (synth {synth_s:.1f} s, prepare {prep_s:.1f} s)")
    print(f"ranked train rows: {r['rows']:,} x {r['fields']} fields, {r['batches']} minibatches, "
          f"pairs on {r['pair_batches']} minibatches")
    print(f"rank_dataset wall: {r['wall_s']:.2f} s   rows/s: {r['rows_per_s']:,.0f}")
    scope = "during rank_dataset" if r["peak_reset"] else "whole process, imports included"
    print(f"peak RSS ({scope}): {r['peak_rss_mib']:.0f} MiB; RSS before ranking {r['rss_before_mib']:.0f} MiB, "
          f"import peak {r['import_peak_mib']:.0f} MiB (torch via recsys imports)")
    print(f"top 5 fields: {', '.join(r['top5'])}")
    if args.baseline:
        print(f"outrank package ({binary}): {theirs['wall_s']:.1f} s, peak RSS {theirs['peak_rss_mib']:.0f} MiB")
        print(f"recsys rank --score outrank --no-pairs: {ours['wall_s']:.2f} s ranking, {ours['process_s']:.1f} s "
              f"with process start and imports, peak RSS {ours['peak_rss_mib']:.0f} MiB; outrank / recsys "
              f"{theirs['wall_s'] / ours['process_s']:.0f}x (whole processes)")
        print(f"Spearman of the field orders (recsys outrank score vs outrank): "
              f"{spearman(ours['order'], theirs['order']):.3f}")


if __name__ == "__main__":
    main()
