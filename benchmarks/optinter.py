"""OptInter on synthetic Criteo rows: search over all pairs, OutRank-seeded search, and the
all-factorize / all-memorize baselines, next to DeepFM on the same data.

    .venv/bin/python benchmarks/optinter.py --rows 1000000 [--epochs 2] [--top-k 50]

The search uses the paper's per-search totals scaled to the data (docs/models.md, OptInter):
``arch lr x steps = 9`` and ``anneal rate x steps = 0.44`` over ``--search-epochs``. Prints
test AUC/logloss, params, embedding bytes, search and retrain samples/s, the methods chosen
for the planted cross pairs and the share of noise x noise pairs left naive.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table, recsys_cmd, run_measured  # noqa: E402
from benchmarks.train import prepared  # noqa: E402


def search_flags(train_rows: int, epochs: int, batch_size: int = 4096) -> list[str]:
    steps = epochs * -(-train_rows // batch_size)
    return ["--set", f"optinter_search_epochs={epochs}", "--set", f"optinter_arch_learning_rate={9 / steps:.4g}",
            "--set", f"optinter_anneal_rate={0.44 / steps:.4g}"]


def run(data: Path, out: Path, model: str, epochs: int, *extra: str) -> dict:
    r = run_measured(recsys_cmd("train", str(data), "--model", model, "--out", str(out), "--epochs", str(epochs),
                                "--no-progress", "--set", "threads=2", *extra))
    m = json.loads((out / "metrics.json").read_text())
    o = m.get("optinter", {})
    return {"test_auc": m["test"]["auc"], "test_logloss": m["test"]["logloss"], "params": m["params"],
            "embedding_bytes": m["embedding_bytes"], "train_samples_per_s": m["train_samples_per_s"],
            "search_samples_per_s": o.get("search_samples_per_s"), "memorize": o.get("memorize"),
            "factorize": o.get("factorize"), "naive": o.get("naive"), "wall_s": r["seconds"]}


def planted(run_dir: Path, truth: dict) -> dict:
    rows = list(csv.DictReader(open(run_dir / "optinter" / "methods.tsv"), delimiter="\t"))
    chosen = {frozenset((r["FeatureA"], r["FeatureB"])): r["method"] for r in rows}
    noise = [frozenset(p) for p in itertools.combinations([f for f in truth["noise"] if f.startswith("C")], 2)]
    noise = [p for p in noise if p in chosen]
    return {"planted": " ".join(f"{a}x{b}:{chosen.get(frozenset((a, b)), '-')}" for a, b in truth["interactions"]),
            "noise_pairs_naive": sum(chosen[p] == "naive" for p in noise) / max(len(noise), 1)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=float, default=1e6)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--search-epochs", type=int, default=1)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--out", type=Path, default=Path("bench_out/train"))
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    _, data, truth = prepared(a.out, int(a.rows))
    flags = search_flags(json.loads((data / "dataset.json").read_text())["splits"]["train"], a.search_epochs)
    report = a.out / "optinter_rank"
    rank = run_measured(recsys_cmd("rank", str(data), "--out", str(report)))
    cases = [("deepfm", "deepfm", []), ("optinter search, all pairs", "optinter", flags),
             (f"optinter search, top {a.top_k} rank pairs", "optinter",
              [*flags, "--candidates", str(report / "relations.tsv"), "--set", f"optinter_candidates_top_k={a.top_k}"]),
             ("optinter all factorize", "optinter", ["--set", "optinter_mode=factorize"]),
             ("optinter all memorize", "optinter", ["--set", "optinter_mode=memorize"])]
    results = []
    for i, (name, model, extra) in enumerate(cases):
        out = a.out / f"optinter_{i}"
        r = {"run": name, **run(data, out, model, a.epochs, *extra)}
        if (out / "optinter" / "methods.tsv").is_file():
            r.update(planted(out, truth))
        results.append(r)
        print(r, flush=True)
    deepfm = results[0]["train_samples_per_s"]
    for r in results[1:]:
        r["train_vs_deepfm"] = r["train_samples_per_s"] / deepfm
        if r["search_samples_per_s"]:
            r["search_vs_deepfm"] = r["search_samples_per_s"] / deepfm
    cols = ["run", "test_auc", "test_logloss", "params", "embedding_bytes", "search_samples_per_s",
            "search_vs_deepfm", "train_samples_per_s", "train_vs_deepfm", "memorize", "factorize", "naive",
            "planted", "noise_pairs_naive", "wall_s"]
    with open(a.out / "optinter.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(results)
    print(f"oracle AUC of the file: {truth['oracle_auc']:.4f}; rank took {rank['seconds']:.0f} s; "
          f"search flags: {' '.join(flags)}")
    print_table(results, cols)
    full, seeded = results[1], results[2]
    print(f"OutRank-seeded search: {seeded['search_samples_per_s'] / full['search_samples_per_s']:.2f}x the "
          f"samples/s of the all-pairs search, test AUC {seeded['test_auc'] - full['test_auc']:+.4f}")


if __name__ == "__main__":
    main()
