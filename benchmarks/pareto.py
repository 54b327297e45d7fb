"""Embedding strategies: test AUC against embedding bytes (Coleman et al., NeurIPS 2023, Table 1).

    .venv/bin/python benchmarks/pareto.py --rows 1000000 --budgets 0.25MB 2.5MB 25MB

For DeepFM and DCNv2: ``hashed`` and ``unified`` at each budget on hash-encoded data (raw
values -> stable 64-bit ids), and ``vocab`` (collision-free, min count 2) as the reference.
Writes pareto.csv and pareto.png under --out; prints the unified - hashed AUC gap per budget
and the unified/hashed training speed ratio.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table  # noqa: E402
from benchmarks.train import prepared, train_ours  # noqa: E402


def run_grid(out: Path, rows: int, budgets: list[str], models: list[str], chunks: int) -> list[dict]:
    _, hashed_data, _ = prepared(out, rows, "hash")
    _, vocab_data, _ = prepared(out, rows, "vocab")
    results = []
    for model in models:
        r = train_ours(vocab_data, out / f"p_{model}_vocab", model)
        results.append({**r, "embedding": "vocab", "embedding_budget": "collision-free"})
        for budget in budgets:
            for strategy in ("hashed", "unified"):
                extra = ["--embedding", strategy, "--embedding-budget", budget]
                if strategy == "unified":
                    extra += ["--set", f"chunks={chunks}"]
                r = train_ours(hashed_data, out / f"p_{model}_{strategy}_{budget}", model, *extra)
                results.append({**r, "embedding": strategy, "embedding_budget": budget})
                print(results[-1], flush=True)
    return results


def embedding_mb(run_dir: Path) -> float:
    import json

    return json.loads((run_dir / "metrics.json").read_text())["embedding_bytes"] / 1e6


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len({r["model"] for r in results}), figsize=(11, 4.2), squeeze=False)
    for ax, model in zip(axes[0], sorted({r["model"] for r in results})):
        for strategy, style in (("hashed", "o--"), ("unified", "s-")):
            pts = sorted((r["embedding_mb"], r["test_auc"]) for r in results if r["model"] == model and r["embedding"] == strategy)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=strategy)
        ref = [r for r in results if r["model"] == model and r["embedding"] == "vocab"]
        if ref:
            ax.axhline(ref[0]["test_auc"], color="gray", ls=":", label=f"vocab ({ref[0]['embedding_mb']:.0f} MB)")
        ax.set_xscale("log")
        ax.set_xlabel("embedding MB (all tables)")
        ax.set_ylabel("test AUC")
        ax.set_title(model)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=float, default=1e6)
    p.add_argument("--budgets", nargs="+", default=["0.25MB", "2.5MB", "25MB"])
    p.add_argument("--models", default="deepfm,dcnv2")
    p.add_argument("--chunks", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("bench_out/train"))
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    results = run_grid(a.out, int(a.rows), a.budgets, a.models.split(","), a.chunks)
    for r in results:
        suffix = "vocab" if r["embedding"] == "vocab" else f"{r['embedding']}_{r['embedding_budget']}"
        r["embedding_mb"] = embedding_mb(a.out / f"p_{r['model']}_{suffix}")
    cols = ["model", "embedding", "embedding_budget", "embedding_mb", "test_auc", "test_logloss", "train_samples_per_s"]
    with open(a.out / "pareto.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(results)
    plot(results, a.out / "pareto.png")
    print_table(results, cols)
    for model in a.models.split(","):
        for budget in a.budgets:
            pick = {r["embedding"]: r for r in results if r["model"] == model and r["embedding_budget"] == budget}
            gap = pick["unified"]["test_auc"] - pick["hashed"]["test_auc"]
            speed = pick["unified"]["train_samples_per_s"] / pick["hashed"]["train_samples_per_s"]
            print(f"{model} {budget}: unified - hashed AUC {gap:+.4f}; unified/hashed speed {speed:.2f}")
    print(f"wrote {a.out / 'pareto.csv'} and {a.out / 'pareto.png'}")


if __name__ == "__main__":
    main()
