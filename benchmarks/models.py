"""Model zoo benchmark: every model, one epoch on the same synthetic Criteo rows.

    .venv/bin/python benchmarks/models.py --rows 1000000 [--models deepfm,autoint+] [--set KEY=VALUE]

One table: params, training samples/s (end to end), scoring rows/s, test AUC/logloss, and
the file's oracle AUC. ``--shape deepctr`` trains AutoInt(+) at DeepCTR-Torch 0.3.0's
shape for the like-for-like speed comparison: 3 layers, 2 heads of 8 (its attention width
is the embedding size, 16), DNN 400-400, and its field layout: the 26 categorical fields
attend, the 13 dense fields (log-transformed floats) go to the DNN and output layer only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table  # noqa: E402
from benchmarks.train import baseline, prepared, train_ours  # noqa: E402

ALL = ["lr", "fm", "dnn", "deepfm", "dcnv2", "ipnn", "autoint", "autoint+", "fgcnn"]
DEEPCTR_SHAPE = ["--set", "attention_dim=8", "--set", "dnn_hidden_units=[400,400]", "--set", "embed_dense=false"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=float, default=1e6)
    p.add_argument("--out", type=Path, default=Path("bench_out/train"))
    p.add_argument("--models", default=",".join(ALL))
    p.add_argument("--shape", choices=["default", "deepctr"], default="default")
    p.add_argument("--baseline", action="store_true", help="also DeepCTR-Torch AutoInt at its shape")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    raw, data, truth = prepared(a.out, int(a.rows))
    rows = []
    for model in a.models.split(","):
        deepctr = a.shape == "deepctr" and model.startswith("autoint")
        extra = DEEPCTR_SHAPE if deepctr else []
        source = prepared(a.out, int(a.rows), dense_transform="log")[1] if deepctr else data
        rows.append(train_ours(source, a.out / f"run_{model}", model, *extra))
        if extra:
            rows[-1]["model"] += " (deepctr shape)"
        print(rows[-1], flush=True)
    if a.baseline:
        base = baseline(raw, "autoint")
        if base:
            rows.append(base)
    print(f"\noracle AUC of the file: {truth['oracle_auc']:.4f}")
    print_table(rows, ["model", "params", "train_samples_per_s", "scoring_rows_per_s", "test_auc", "test_logloss",
                       "peak_rss_mb", "wall_s"])


if __name__ == "__main__":
    main()
