"""``recsys experiment STUDY.yaml --out EXP_DIR [--address RAY] [--concurrent C]`` and
``recsys compare RUN_A RUN_B``."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

from recsys.errors import DataDirError
from recsys.files import check_output_dir, output_verb


def main(argv: Sequence[str]) -> Any:
    p = argparse.ArgumentParser(prog="recsys experiment",
                                description="Run a study (grid x seeds, ASHA search) on Ray Tune; write a "
                                            "leaderboard and report. Run it again to resume.")
    p.add_argument("study", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--concurrent", type=int, default=1, help="trials at a time (each gets cores / C threads)")
    p.add_argument("--address", help="Ray cluster address (EXP_DIR must then be on storage every node sees)")
    p.add_argument("--overwrite", action="store_true", help="replace another recsys verb's output at --out")
    a = p.parse_args(argv)
    check_output_dir(a.out, "experiment", a.overwrite)
    if output_verb(a.out) not in (None, "experiment"):
        shutil.rmtree(a.out)
    import torchrec.distributed.planner  # noqa: F401

    from pipelines.cli import quiet_libraries
    from recsys.experiments.runner import run_study

    quiet_libraries()
    result = run_study(a.study, a.out, a.concurrent, a.address)
    counts = {s: sum(1 for v in result.status.values() if v["status"] == s) for s in ("finished", "stopped", "failed")}
    print(f"study {a.study}: ran {len(result.ran)}, skipped {len(result.skipped)} already done; "
          f"{counts['finished']} finished, {counts['stopped']} stopped early, {counts['failed']} failed")
    print((a.out / "leaderboard.md").read_text())
    print(f"report: {a.out / 'report.html'}")
    return result


def compare_main(argv: Sequence[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="recsys compare",
                                description="Paired bootstrap interval of the test AUC difference of two runs "
                                            "on the same test rows.")
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", type=float, default=0.95)
    a = p.parse_args(argv)
    from recsys.experiments.significance import paired_bootstrap_auc
    from recsys.training.predictions import read_predictions

    pa_, pb = read_predictions(a.run_a), read_predictions(a.run_b)
    if len(pa_.labels) != len(pb.labels) or (pa_.labels != pb.labels).any():
        raise DataDirError(f"{a.run_a} and {a.run_b} were not tested on the same rows "
                           f"({len(pa_.labels):,} and {len(pb.labels):,} rows, labels differ): train both on one DATA_DIR")
    d = paired_bootstrap_auc(pa_.labels, pa_.scores, pb.scores, a.resamples, a.seed, a.level)
    verdict = ("A is better" if d.low > 0 else "B is better" if d.high < 0 else
               "no significant difference")
    print(f"test AUC  A {d.auc_a:.5f}  B {d.auc_b:.5f}  A-B {d.delta:+.5f}  "
          f"{d.level:.0%} CI [{d.low:+.5f}, {d.high:+.5f}]  p {d.p_value:.3f}  ({d.rows:,} rows, "
          f"{d.resamples} paired resamples): {verdict}")
    out = {"run_a": str(a.run_a), "run_b": str(a.run_b), **d.to_json(), "verdict": verdict}
    print(json.dumps(out))
    return out
