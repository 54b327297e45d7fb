"""Model zoo benchmark: every model, one epoch on the same synthetic Criteo rows.

    .venv/bin/python benchmarks/models.py --rows 1000000 [--models deepfm,autoint+] [--shape deepctr] [--baseline]

One table: params, training samples/s (end to end), scoring rows/s, test AUC/logloss, and
the file's oracle AUC. ``--shape deepctr`` trains AutoInt(+) at DeepCTR-Torch 0.3.0's
shape for the like-for-like speed comparison: 3 layers, 2 heads of 8 (its attention width
is the embedding size, 16), DNN 400-400, and its field layout: the 26 categorical fields
attend, the 13 dense fields (log-transformed floats) go to the DNN and output layer only.
``--baseline`` also trains the DeepCTR-Torch counterpart of each model that has one
(DeepFM, DCN with matrix cross layers, PNN, AutoInt; `benchmarks/baselines/deepctr.py`)
on the same raw file and prints the speed ratio.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table  # noqa: E402
from benchmarks.train import baseline, prepared, train_ours  # noqa: E402

ALL = ["lr", "fm", "dnn", "deepfm", "dcnv2", "ipnn", "autoint", "autoint+", "fgcnn"]
DEEPCTR_COUNTERPART = {"deepfm": "deepctr-deepfm", "dcnv2": "deepctr-dcn", "ipnn": "deepctr-pnn",
                       "autoint": "deepctr-autoint", "autoint+": "deepctr-autoint"}
DEEPCTR_SHAPE = ["--set", "attention_dim=8", "--set", "dnn_hidden_units=[400,400]", "--set", "embed_dense=false"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=float, default=1e6)
    p.add_argument("--out", type=Path, default=Path("bench_out/train"))
    p.add_argument("--models", default=",".join(ALL))
    p.add_argument("--shape", choices=["default", "deepctr"], default="default")
    p.add_argument("--baseline", action="store_true",
                   help="also the DeepCTR-Torch counterpart of each model that has one (same raw file)")
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
        counterpart = DEEPCTR_COUNTERPART.get(model)
        if a.baseline and counterpart and counterpart not in {r["model"] for r in rows}:
            base = baseline(raw, counterpart.removeprefix("deepctr-"))
            if base:
                rows.append(base)
                print(f"{model} / {base['model']}: train {rows[-2]['train_samples_per_s'] / base['train_samples_per_s']:.2f}x",
                      flush=True)
    print(f"\noracle AUC of the file: {truth['oracle_auc']:.4f}")
    print_table(rows, ["model", "params", "train_samples_per_s", "scoring_rows_per_s", "test_auc", "test_logloss",
                       "peak_rss_mb", "wall_s"])


if __name__ == "__main__":
    main()
