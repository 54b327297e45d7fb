"""OptFS against the unpruned backbone: same data, same epoch budget, same process order.

    .venv/bin/python benchmarks/optfs.py --rows 1000000 [--models deepfm,dcnv2] [--epochs 2]

For each model: a plain run and an ``--optfs`` run whose ``optfs_lambda`` and
``optfs_learning_rate`` follow the scaling rule of docs/models.md for the training rows
(4 search epochs, rewind to epoch 0), plus DeepFM with Unified Embedding at 0.25 MB with and
without OptFS. Prints test AUC/logloss, embedding bytes before and after pruning, the search's
samples/s against the plain run's, and how the planted noise and informative fields fared.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table, recsys_cmd, run_measured  # noqa: E402
from benchmarks.train import prepared  # noqa: E402


def rule(train_rows: int, batch_size: int = 4096) -> list[str]:
    """The documented scaling rule as ``--set`` flags."""
    lam, lr = 0.18 / train_rows, 0.25 / (2 * train_rows / batch_size) ** 0.5
    return ["--optfs", "--set", "optfs_search_epochs=4", "--set", "optfs_rewind_epoch=0",
            "--set", f"optfs_lambda={lam:.4g}", "--set", f"optfs_learning_rate={lr:.4g}"]


def run(data: Path, out: Path, model: str, epochs: int, *extra: str) -> dict:
    r = run_measured(recsys_cmd("train", str(data), "--model", model, "--out", str(out), "--epochs", str(epochs),
                                "--no-progress", "--set", "threads=2", *extra))
    m = json.loads((out / "metrics.json").read_text())
    o = m.get("optfs", {})
    return {"model": model, "test_auc": m["test"]["auc"], "test_logloss": m["test"]["logloss"],
            "embedding_bytes": m["embedding_bytes"], "unpruned_bytes": m.get("embedding_bytes_unpruned"),
            "kept_rows": o.get("kept_rows"), "total_rows": o.get("total_rows"),
            "train_samples_per_s": m["train_samples_per_s"], "search_samples_per_s": o.get("search_samples_per_s"),
            "best_epoch": m["best_epoch"], "wall_s": r["seconds"]}


def planted(run_dir: Path, truth: dict) -> dict:
    """Kept fraction over the planted noise fields' rows; median traffic kept of informative fields."""
    rows = {r["field"]: r for r in csv.DictReader(open(run_dir / "optfs" / "fields.tsv"), delimiter="\t")}
    noise = [rows[f] for f in truth["noise"]]
    return {"noise_rows_kept": sum(int(r["kept"]) for r in noise) / max(sum(int(r["values"]) for r in noise), 1),
            "informative_traffic_kept": statistics.median(float(rows[f]["traffic_kept"]) for f in truth["informative"])}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=float, default=1e6)
    p.add_argument("--models", default="deepfm,dcnv2")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--budget", default="0.25MB")
    p.add_argument("--out", type=Path, default=Path("bench_out/train"))
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    _, data, truth = prepared(a.out, int(a.rows))
    flags = rule(json.loads((data / "dataset.json").read_text())["splits"]["train"])
    results = []
    cases = [(m, []) for m in a.models.split(",")] + [("deepfm", ["--embedding", "unified", "--embedding-budget", a.budget])]
    for model, emb in cases:
        tag = f"{model}_{'unified' if emb else 'vocab'}"
        plain = {**run(data, a.out / f"optfs_plain_{tag}", model, a.epochs, *emb), "optfs": "no"}
        pruned = {**run(data, a.out / f"optfs_{tag}", model, a.epochs, *emb, *flags), "optfs": "yes"}
        pruned.update(planted(a.out / f"optfs_{tag}", truth))
        pruned["search_speed_ratio"] = pruned["search_samples_per_s"] / plain["train_samples_per_s"]
        for r in (plain, pruned):
            r["embedding"] = f"unified {a.budget}" if emb else "vocab"
        results += [plain, pruned]
        print(f"{tag}: test AUC {pruned['test_auc'] - plain['test_auc']:+.4f} with OptFS, embedding bytes "
              f"{plain['embedding_bytes']:,} -> {pruned['embedding_bytes']:,} "
              f"({pruned['embedding_bytes'] / plain['embedding_bytes']:.3f}x), search speed "
              f"{pruned['search_speed_ratio']:.2f}x of plain training", flush=True)
    cols = ["model", "embedding", "optfs", "test_auc", "test_logloss", "embedding_bytes", "unpruned_bytes",
            "kept_rows", "total_rows", "train_samples_per_s", "search_samples_per_s", "search_speed_ratio",
            "noise_rows_kept", "informative_traffic_kept", "best_epoch", "wall_s"]
    with open(a.out / "optfs.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(results)
    print(f"oracle AUC of the file: {truth['oracle_auc']:.4f}; OptFS flags: {' '.join(flags)}")
    print_table(results, cols)


if __name__ == "__main__":
    main()
