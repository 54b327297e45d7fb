"""Training benchmark: DeepFM (dim 16, MLP 400-400-400, batch 4096, Adam, 2 threads), one
epoch on synthetic Criteo rows, end to end (data loading included).

    .venv/bin/python benchmarks/train.py --rows 1000000 [--baseline] [--ray-workers 1 2]

Prints training samples/s, scoring rows/s, peak RSS and test AUC for recsys and, with
--baseline and deepctr-torch importable, for DeepCTR-Torch on the same raw file, plus ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table, recsys_cmd, run_measured, synth  # noqa: E402


def prepared(out: Path, rows: int, encoding: str = "vocab", dense_transform: str = "bucket") -> tuple[Path, Path, dict]:
    """Synthetic raw file and its prepared DATA_DIR (both cached under ``out``)."""
    raw = out / f"criteo_{rows}.tsv"
    truth = synth(raw, rows)
    data = out / f"data_{rows}_{encoding}" if dense_transform == "bucket" else out / f"data_{rows}_{encoding}_{dense_transform}"
    if not (data / "dataset.json").is_file():
        run_measured(recsys_cmd("prepare", str(raw), "--format", "criteo", "--out", str(data), "--encoding", encoding,
                                "--dense-transform", dense_transform))
    return raw, data, truth


def train_ours(data: Path, run: Path, model: str, *extra: str, threads: int = 2) -> dict:
    r = run_measured(recsys_cmd("train", str(data), "--model", model, "--out", str(run), "--epochs", "1",
                                "--no-progress", "--overwrite", "--set", f"threads={threads}", *extra))
    m = json.loads((run / "metrics.json").read_text())
    return {"model": model, "train_samples_per_s": m["train_samples_per_s"], "scoring_rows_per_s": m["scoring_rows_per_s"],
            "test_auc": m["test"]["auc"], "test_logloss": m["test"]["logloss"], "params": m["params"],
            "peak_rss_mb": r["peak_rss_mb"], "wall_s": r["seconds"], "precision": m.get("precision")}


def baseline(raw: Path, model: str = "deepfm", *flags: str) -> dict | None:
    try:
        import deepctr_torch  # noqa: F401
    except ImportError:
        print("deepctr-torch not installed: baseline skipped (pip install --no-deps deepctr-torch==0.3.0)")
        return None
    script = Path(__file__).parent / "baselines" / "deepctr.py"
    r = run_measured([sys.executable, str(script), str(raw), "--model", model, *flags])
    out = json.loads(r["stdout"].strip().splitlines()[-1])
    return {**out, "peak_rss_mb": r["peak_rss_mb"], "wall_s": r["seconds"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=float, default=1e6)
    p.add_argument("--out", type=Path, default=Path("bench_out/train"))
    p.add_argument("--baseline", action="store_true")
    p.add_argument("--ray-workers", type=int, nargs="*", default=[],
                   help="also train on Ray Train with these worker counts (each worker cores / N threads)")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    raw, data, truth = prepared(a.out, int(a.rows))
    rows = [train_ours(data, a.out / "run_deepfm", "deepfm"),
            train_ours(data, a.out / "run_deepfm_fp32", "deepfm", "--set", "mixed_precision=none")]
    rows[1]["model"] = "deepfm (fp32)"
    for w in a.ray_workers:  # Ray startup and the final checkpoint are in wall_s, not in samples/s
        rows.append(train_ours(data, a.out / f"run_deepfm_ray{w}", "deepfm", "--workers", str(w),
                               threads=max(1, 2 // w)) | {"model": f"deepfm (Ray, {w} workers)"})
    base = baseline(raw) if a.baseline else None
    if base:
        rows.append(base)
    print(f"oracle AUC of the file: {truth['oracle_auc']:.4f}")
    print_table(rows, ["model", "train_samples_per_s", "scoring_rows_per_s", "test_auc", "test_logloss",
                       "peak_rss_mb", "wall_s", "precision"])
    if base:
        print(f"speed ratio recsys/deepctr: train {rows[0]['train_samples_per_s'] / base['train_samples_per_s']:.2f}x, "
              f"scoring {rows[0]['scoring_rows_per_s'] / base['scoring_rows_per_s']:.2f}x; "
              f"AUC difference {rows[0]['test_auc'] - base['test_auc']:+.4f}")


if __name__ == "__main__":
    main()
