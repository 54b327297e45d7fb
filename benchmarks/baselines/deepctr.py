"""DeepCTR-Torch baseline (optional; `pip install --no-deps deepctr-torch==0.3.0`).

Its documented Criteo recipe: LabelEncoder on sparse fields, MinMaxScaler on dense
fields, random 80/10/10 split, Adam, one epoch. Prints one JSON line.
    python benchmarks/baselines/deepctr.py RAW.tsv [--model deepfm|autoint|dcn|pnn] [--score-only]

``--score-only``: no training; ``predict`` on every row of the file (encoded arrays, the
untrained model: its cost does not depend on the weights' values), for the batch-scoring
comparison on the same rows as ``recsys score``.

Counterparts of our models at our default shapes (dim 16, batch 4096): DeepFM (DNN 400x3),
AutoInt (3 layers, 2 heads, DNN 400-400), DCN with matrix cross layers (DCNv2, 3 layers,
parallel DNN 400x3), PNN with inner products (IPNN, DNN 400x3). DeepCTR feeds the 13 dense
fields as values (cross/DNN inputs), ours as bucketized fields: ours does at least as much work.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, MinMaxScaler


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("raw")
    p.add_argument("--model", default="deepfm", choices=["deepfm", "autoint", "dcn", "pnn"])
    p.add_argument("--score-only", action="store_true", help="predict every row, untrained (scoring speed)")
    p.add_argument("--dense-as-sparse", action="store_true",
                   help="bucketize the dense fields (floor(ln(x)^2) above 2) into embedded fields, as our "
                        "Criteo config does: the same model shape as ours (39 fields x 16 into the DNN)")
    a = p.parse_args()
    from deepctr_torch.inputs import DenseFeat, SparseFeat, get_feature_names
    from deepctr_torch.models import DCN, PNN, AutoInt, DeepFM

    torch.set_num_threads(2)
    dense, sparse = [f"I{i}" for i in range(1, 14)], [f"C{i}" for i in range(1, 27)]
    data = pd.read_csv(a.raw, sep="\t", header=None, names=["label"] + dense + sparse)
    data[sparse] = data[sparse].fillna("-1")
    if a.dense_as_sparse:
        x = data[dense]
        data[dense] = x.where(~(x > 2), np.floor(np.log(x.where(x > 2)) ** 2)).fillna(-1).astype("int64").astype(str)
        sparse, dense = dense + sparse, []
    data[dense] = data[dense].fillna(0)
    for c in sparse:
        data[c] = LabelEncoder().fit_transform(data[c])
    if dense:
        data[dense] = MinMaxScaler().fit_transform(data[dense])
    cols = [SparseFeat(c, data[c].max() + 1, embedding_dim=16) for c in sparse] + [DenseFeat(c, 1) for c in dense]
    names = get_feature_names(cols)
    train, test = train_test_split(data, test_size=0.1, random_state=2020)
    train, val = train_test_split(train, test_size=1 / 9, random_state=2020)
    dnn = (400, 400, 400)
    if a.model == "deepfm":
        model = DeepFM(cols, cols, dnn_hidden_units=dnn, task="binary", device="cpu")
    elif a.model == "dcn":
        model = DCN(cols, cols, cross_num=3, cross_parameterization="matrix", dnn_hidden_units=dnn, task="binary",
                    device="cpu")
    elif a.model == "pnn":
        model = PNN(cols, dnn_hidden_units=dnn, use_inner=True, use_outter=False, task="binary", device="cpu")
    else:
        model = AutoInt(cols, cols, att_layer_num=3, att_head_num=2, dnn_hidden_units=(400, 400), task="binary", device="cpu")
    model.compile("adam", "binary_crossentropy")
    if a.score_only:
        x_all = {n: data[n].values for n in names}
        start = time.perf_counter()
        model.predict(x_all, batch_size=16384)
        print(json.dumps({"model": f"deepctr-{a.model}", "scored_rows": len(data),
                          "scoring_rows_per_s": len(data) / (time.perf_counter() - start)}))
        return
    x_train = {n: train[n].values for n in names}
    start = time.perf_counter()
    model.fit(x_train, train["label"].values, batch_size=4096, epochs=1, verbose=0)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = model.predict({n: test[n].values for n in names}, batch_size=16384)
    score_s = time.perf_counter() - start
    y = test["label"].values
    print(json.dumps({"model": f"deepctr-{a.model}", "train_samples_per_s": len(train) / train_s,
                      "scoring_rows_per_s": len(test) / score_s, "test_auc": roc_auc_score(y, pred),
                      "test_logloss": log_loss(y, np.clip(pred, 1e-7, 1 - 1e-7))}))


if __name__ == "__main__":
    main()
