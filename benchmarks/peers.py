"""Quality and speed against the peers on identical rows: recsys at its shipped defaults vs
FuxiCTR (its own preprocessing and model-zoo defaults) and DeepCTR-Torch, through the
scripts in ``../shared/peers/``.

    .venv/bin/python benchmarks/peers.py RAW --format criteo|avazu [--models deepfm,dcnv2,autoint+]
        [--peers fuxictr,deepctr] [--fuxictr-git DIR] [--peers-venv DIR] [--variant NAME:KEY=VALUE,...]
        [--out DIR] [--repeat N]

The raw file is reordered by ``peer_order.py`` so that ``recsys prepare --split sequential``
gives exactly the peers' random 8:1:1 split (numpy permutation, seed 2024); every side trains
one epoch at dim 16, batch 4096, 2 threads, and is tested on the same rows. Our rows are run
at the shipped precision (bf16 hidden layers) and at fp32; ratios compare same-precision runs
(FuxiCTR and DeepCTR-Torch train fp32). ``--variant`` adds runs of ours with config overrides
(e.g. ``--variant nobn:batch_norm=false``) for the ablations in docs/benchmarks.md. Results are
printed as a table and written to ``OUT/results.json``. ``--repeat N`` alternates our runs and
the peers' N times and reports each side's medians (with the range of its speed): this machine
drifts 10-40% between runs, so one pair of runs can misstate a speed ratio by as much.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table, recsys_cmd, run_measured  # noqa: E402

PEERS = Path(__file__).resolve().parents[1].parent / "shared" / "peers"
# Our model name -> FuxiCTR model-zoo run name in peer_fuxictr.sh, and the shape flags that
# make ours the same network as the peer config (fuxictr_configs/model_config.yaml).
FUXICTR_NAME = {"deepfm": "deepfm", "dcnv2": "dcnv2", "autoint+": "autoint", "fgcnn": "fgcnn"}
DEEPCTR_NAME = {"deepfm": "deepfm", "autoint+": "autoint"}
SAME_SHAPE = {"criteo": {"autoint+": ["dnn_hidden_units=[400,400]"]},
              "avazu": {"autoint+": ["dnn_hidden_units=[400,400]"],
                        "deepfm": ["dnn_hidden_units=[2000,2000,2000,2000]"]}}


def ordered_data(raw: Path, fmt: str, out: Path) -> Path:
    """The raw file in the peers' split order, prepared with ``--split sequential`` (cached)."""
    ordered = out / ("ordered" + raw.suffix)
    data = out / "data"
    if not (data / "dataset.json").is_file():
        subprocess.run([sys.executable, str(PEERS / "peer_order.py"), str(raw), str(ordered)], check=True)
        run_measured(recsys_cmd("prepare", str(ordered), "--format", fmt, "--split", "sequential",
                                "--out", str(data), "--overwrite"))
    return data


def ours(data: Path, run: Path, model: str, sets: list[str], label: str, reuse: bool = False) -> dict[str, Any]:
    """One run of ours (``reuse``: read an earlier run's metrics.json of the same overrides instead)."""
    args = [a for s in sets for a in ("--set", s)]
    stamp = run / "bench_args.json"
    if reuse and (run / "metrics.json").is_file() and stamp.is_file() and json.loads(stamp.read_text()) == sets:
        return _our_row(run, model, label, None)
    r = run_measured(recsys_cmd("train", str(data), "--model", model, "--out", str(run), "--epochs", "1",
                                "--no-progress", "--overwrite", "--set", "threads=2", *args))
    stamp.write_text(json.dumps(sets))
    return _our_row(run, model, label, r["seconds"])


def _our_row(run: Path, model: str, label: str, wall: float | None) -> dict[str, Any]:
    m = json.loads((run / "metrics.json").read_text())
    return {"side": label, "model": model, "precision": m.get("precision"),
            "train_samples_per_s": m["train_samples_per_s"], "test_auc": m["test"]["auc"],
            "test_logloss": m["test"]["logloss"], "params": m["params"], "wall_s": wall}


def fuxictr(raw: Path, fmt: str, models: list[str], venv: Path, git: Path, work: Path) -> list[dict[str, Any]]:
    names = [FUXICTR_NAME[m] for m in models if m in FUXICTR_NAME]
    env = {**os.environ, "MODELS": " ".join(names), "FORMAT": fmt}
    if fmt == "avazu" and "deepfm" in models:
        env.setdefault("DEEPFM_HIDDEN", "[2000,2000,2000,2000]")
    proc = subprocess.run([str(PEERS / "peer_fuxictr.sh"), str(venv), str(git), str(raw), str(work)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"peer_fuxictr.sh failed:\n{proc.stderr[-3000:]}")
    back = {v: k for k, v in FUXICTR_NAME.items()}
    return [_peer_row("fuxictr", back[r["model"]], r) for r in map(json.loads, _json_lines(proc.stdout))]


def deepctr(raw: Path, fmt: str, models: list[str], venv: Path) -> list[dict[str, Any]]:
    rows = []
    for model in (m for m in models if m in DEEPCTR_NAME):
        hidden = ["--hidden", "2000,2000,2000,2000"] if fmt == "avazu" and model == "deepfm" else []
        proc = subprocess.run([str(venv / "bin" / "python"), str(PEERS / "peer_deepctr.py"), str(raw),
                               DEEPCTR_NAME[model], "1", "--format", fmt, *hidden],
                              capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
        if proc.returncode != 0:
            raise RuntimeError(f"peer_deepctr.py failed:\n{proc.stderr[-3000:]}")
        rows.append(_peer_row("deepctr-torch", model, json.loads(_json_lines(proc.stdout)[-1])))
    return rows


def _json_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("{")]


def _peer_row(side: str, model: str, r: dict[str, Any]) -> dict[str, Any]:
    return {"side": side, "model": model, "precision": "fp32", "train_samples_per_s": r["train_samples_per_s"],
            "test_auc": r["auc"], "test_logloss": r["logloss"], "params": r.get("params")}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("raw", type=Path)
    p.add_argument("--format", choices=["criteo", "avazu"], required=True)
    p.add_argument("--models", default="deepfm,dcnv2,autoint+")
    p.add_argument("--peers", default="fuxictr,deepctr")
    p.add_argument("--no-fp32", action="store_true", help="skip our fp32 rows")
    p.add_argument("--reuse", action="store_true", help="reuse our earlier runs in OUT of the same overrides")
    p.add_argument("--variant", action="append", default=[], help="NAME:KEY=VALUE[,KEY=VALUE] extra runs of ours")
    p.add_argument("--peers-venv", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "peers" / "venv")
    p.add_argument("--fuxictr-git", type=Path, default=Path("/work/.mirror/reczoo+FuxiCTR/repo"))
    p.add_argument("--out", type=Path, default=Path("bench_out/peers"))
    p.add_argument("--repeat", type=int, default=1,
                   help="alternate our runs and the peers' N times; report medians "
                        "(this machine drifts 10-40%% between runs)")
    a = p.parse_args()
    out = a.out / f"{a.format}_{a.raw.stem}"
    out.mkdir(parents=True, exist_ok=True)
    data = ordered_data(a.raw, a.format, out)
    models = a.models.split(",")
    rounds = [one_round(a, data, out, models, reuse=a.reuse and i == 0) for i in range(a.repeat)]
    rows = [median_row(same) for same in zip(*rounds)]
    if a.repeat > 1:
        for i, r in enumerate(rounds):
            print(f"round {i + 1}: " + ", ".join(f"{x['side']} {x['model']} {x['train_samples_per_s']:,.0f}/s "
                                                  f"AUC {x['test_auc']:.4f}" for x in r))
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    print_table(rows, ["side", "model", "precision", "train_samples_per_s", "test_auc", "test_logloss", "params",
                       *(["speed_range"] if a.repeat > 1 else [])])
    _ratios(rows)


def one_round(a: argparse.Namespace, data: Path, out: Path, models: list[str], reuse: bool) -> list[dict[str, Any]]:
    """Our runs (shipped precision, fp32, variants) then the peers', in a fixed order."""
    rows: list[dict[str, Any]] = []
    for model in models:
        shape = SAME_SHAPE[a.format].get(model, [])
        rows.append(ours(data, out / f"run_{model}", model, shape, "recsys", reuse))
        if not a.no_fp32:
            rows.append(ours(data, out / f"run_{model}_fp32", model, [*shape, "mixed_precision=none"], "recsys", reuse))
        for v in a.variant:
            name, _, sets = v.partition(":")
            rows.append(ours(data, out / f"run_{model}_{name}", model, [*shape, *sets.split(",")], f"recsys {name}",
                             reuse))
    peers = a.peers.split(",") if a.peers else []
    if "fuxictr" in peers:
        rows += fuxictr(a.raw, a.format, models, a.peers_venv, a.fuxictr_git, out / "fuxictr")
    if "deepctr" in peers:
        rows += deepctr(a.raw, a.format, models, a.peers_venv)
    return rows


def median_row(same: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """One side's runs over the rounds -> its medians (speed, AUC, logloss) and the spread of speed."""
    row = dict(same[0])
    for key in ("train_samples_per_s", "test_auc", "test_logloss"):
        row[key] = statistics.median(r[key] for r in same)
    if len(same) > 1:
        speeds = [r["train_samples_per_s"] for r in same]
        row["speed_range"] = f"{min(speeds):,.0f}-{max(speeds):,.0f}"
    return row


def _ratios(rows: list[dict[str, Any]]) -> None:
    """Per model: AUC/logloss difference and speed ratio of our default rows against each peer."""
    for peer in (r for r in rows if not r["side"].startswith("recsys")):
        for mine in (r for r in rows if r["side"] == "recsys" and r["model"] == peer["model"]):
            print(f"{peer['model']:9s} recsys ({mine['precision']}) vs {peer['side']}: "
                  f"AUC {mine['test_auc'] - peer['test_auc']:+.4f}, logloss {mine['test_logloss'] - peer['test_logloss']:+.4f}, "
                  f"speed {mine['train_samples_per_s'] / peer['train_samples_per_s']:.2f}x")


if __name__ == "__main__":
    main()
