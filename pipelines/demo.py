"""``make demo``: synth -> prepare -> train -> evaluate -> export -> score, then a metrics table."""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

from pipelines import export, prepare, score, synth, train
from pipelines.cli import quiet_libraries


def _step(name: str, fn: Any, argv: list[str]) -> tuple[Any, float]:
    print(f"\n== {name}: recsys {name} {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    result = fn(argv)
    return result, time.perf_counter() - start


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="recsys demo")
    p.add_argument("--out", type=Path, default=Path("demo"))
    p.add_argument("--rows", type=float, default=1e6)
    p.add_argument("--model", default="deepfm")
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.ERROR)
    quiet_libraries()
    out, rows = a.out, str(int(a.rows))
    raw, data, run, bundle = out / "criteo_synth.tsv", out / "data", out / "run", out / "bundle"
    truth, t_synth = _step("synth", synth.main, ["--format", "criteo", "--rows", rows, "--seed", "7", "--out", str(raw)])
    prep, t_prep = _step("prepare", prepare.main, [str(raw), "--format", "criteo", "--out", str(data)])
    metrics, t_train = _step("train", train.main, [str(data), "--model", a.model, "--out", str(run), "--epochs", "1"])
    evaluated, _ = _step("evaluate", train.evaluate_main, [str(run), str(data), "--split", "test"])
    _step("export", export.main, [str(run), "--out", str(bundle)])
    scored, t_score = _step("score", score.main, [str(bundle), str(raw), "--format", "criteo", "--out", str(out / "scores.parquet")])
    table = [("split", "AUC", "logloss"), ("val", metrics["val"]["auc"], metrics["val"]["logloss"]),
             ("test", metrics["test"]["auc"], metrics["test"]["logloss"]), ("oracle (truth)", truth["oracle_auc"], None)]
    print(f"\n{a.model} on {int(a.rows):,} synthetic Criteo rows")
    for name, auc, ll in table:
        print(f"  {name:<16}{auc if isinstance(auc, str) else f'{auc:.4f}':>8}  "
              f"{'' if ll is None else (ll if isinstance(ll, str) else f'{ll:.4f}'):>8}")
    print(f"  train {metrics['train_samples_per_s']:,.0f} samples/s | score {scored.rows / t_score:,.0f} rows/s | "
          f"prepare {prep.input_rows / t_prep:,.0f} rows/s | synth {t_synth:.0f}s, train {t_train:.0f}s")
    summary = {"metrics": metrics, "evaluate": evaluated, "oracle_auc": truth["oracle_auc"]}
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
