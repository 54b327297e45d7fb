"""``leaderboard.csv`` / ``leaderboard.md``: one row per configuration, best test AUC first.

Each row has the mean and std over seeds of val/test AUC and logloss, params, embedding
bytes and train samples/s, and its difference from the best row: the paired bootstrap
interval of the test AUC difference on the same test rows (first seed both share), and a
paired t-test over the seeds they share when there are two or more. ``best_of_model``
marks each model's best configuration. Trials stopped by ASHA or failed are listed after,
with what they reached.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import polars as pl

from recsys.experiments.significance import paired_bootstrap_auc, paired_seed_test
from recsys.experiments.study import Study
from recsys.files import write_file_atomic, write_text_atomic

COLUMNS = ["rank", "config", "model", "embedding", "seeds", "test_auc", "test_auc_std", "test_logloss",
           "test_logloss_std", "val_auc", "val_auc_std", "val_logloss", "val_logloss_std", "params",
           "embedding_bytes", "train_samples_per_s", "delta_vs_best", "ci_low", "ci_high", "p_bootstrap",
           "p_seeds", "best_of_model", "status", "note"]


@dataclass
class ConfigRuns:
    """The finished runs of one configuration, by seed."""

    config: str
    model: str
    runs: dict[int, Path] = field(default_factory=dict)
    metrics: dict[int, dict[str, Any]] = field(default_factory=dict)


def finished_configs(exp_dir: Path, study: Study, status: dict[str, dict[str, Any]]) -> list[ConfigRuns]:
    from recsys.experiments.runner import FINISHED, run_dir_of

    out: dict[str, ConfigRuns] = {}
    for t in study.trials:
        run = run_dir_of(exp_dir, t)
        if status.get(t.id, {}).get("status") != FINISHED or not (run / "metrics.json").is_file():
            continue
        entry = out.setdefault(t.config, ConfigRuns(t.config, t.cfg.model))
        entry.runs[t.seed] = run
        entry.metrics[t.seed] = json.loads((run / "metrics.json").read_text())
    return list(out.values())


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def _row(c: ConfigRuns) -> dict[str, Any]:
    ms = [c.metrics[s] for s in sorted(c.metrics)]
    row: dict[str, Any] = {"config": c.config, "model": c.model, "embedding": ms[0].get("embedding", ""),
                           "seeds": len(ms), "status": "finished", "note": ""}
    for split in ("test", "val"):
        for metric in ("auc", "logloss"):
            row[f"{split}_{metric}"], row[f"{split}_{metric}_std"] = _mean_std([m[split][metric] for m in ms])
    for key in ("params", "embedding_bytes", "train_samples_per_s"):
        row[key] = float(np.mean([m[key] for m in ms]))
    notes = []
    if "optfs" in ms[0]:
        o = ms[0]["optfs"]
        notes.append(f"OptFS kept {o['kept_rows'] / max(o['total_rows'], 1):.1%} of rows")
    if "optinter" in ms[0]:
        o = ms[0]["optinter"]
        notes.append(f"OptInter {o['memorize']} memorize / {o['factorize']} factorize / {o['naive']} naive")
    row["note"] = "; ".join(notes)
    return row


def _versus_best(row: dict[str, Any], c: ConfigRuns, best: ConfigRuns, resamples: int) -> None:
    """Fill delta, bootstrap interval and seed test of ``c`` against ``best``."""
    from recsys.training.predictions import read_predictions

    row["delta_vs_best"] = row["test_auc"] - float(np.mean([best.metrics[s]["test"]["auc"] for s in best.metrics]))
    shared = sorted(set(c.runs) & set(best.runs))
    if c is best or not shared:
        return
    a, b = read_predictions(c.runs[shared[0]]), read_predictions(best.runs[shared[0]])
    if len(a.labels) == len(b.labels) and np.array_equal(a.labels, b.labels):
        d = paired_bootstrap_auc(a.labels, a.scores, b.scores, resamples=resamples)
        row["ci_low"], row["ci_high"], row["p_bootstrap"] = d.low, d.high, d.p_value
    if len(shared) >= 2:
        row["p_seeds"] = paired_seed_test([c.metrics[s]["test"]["auc"] for s in shared],
                                          [best.metrics[s]["test"]["auc"] for s in shared]).p_value


def leaderboard_frame(exp_dir: Path, study: Study, status: dict[str, dict[str, Any]],
                      resamples: int = 1000) -> pl.DataFrame:
    configs = finished_configs(exp_dir, study, status)
    rows = [_row(c) for c in configs]
    order = sorted(range(len(rows)), key=lambda i: -rows[i]["test_auc"])
    if order:
        best = configs[order[0]]
        for i in order:
            _versus_best(rows[i], configs[i], best, resamples)
    seen: set[str] = set()
    ranked = []
    for rank, i in enumerate(order, 1):
        r = rows[i]
        r["rank"], r["best_of_model"] = rank, r["model"] not in seen
        seen.add(r["model"])
        ranked.append(r)
    ranked += _unfinished_rows(study, status, {c.config for c in configs})
    return pl.DataFrame([{k: r.get(k) for k in COLUMNS} for r in ranked], schema=_schema(), orient="row")


def _schema() -> dict[str, Any]:
    text = {"config", "model", "embedding", "status", "note"}
    ints = {"rank", "seeds"}
    return {c: (pl.String if c in text else pl.Int64 if c in ints else pl.Boolean if c == "best_of_model"
                else pl.Float64) for c in COLUMNS}


def _unfinished_rows(study: Study, status: dict[str, dict[str, Any]], finished: set[str]) -> list[dict[str, Any]]:
    """One row per configuration without a finished run: stopped early by ASHA, failed or not run."""
    out: dict[str, dict[str, Any]] = {}
    for t in study.trials:
        if t.config in finished or t.config in out:
            continue
        s = status.get(t.id, {"status": "not run"})
        note = s.get("error") or (f"stopped by ASHA after epoch {s.get('epoch')}" if s["status"] == "stopped" else "")
        out[t.config] = {"config": t.config, "model": t.cfg.model, "embedding": t.cfg.embedding.embedding,
                         "seeds": 0, "val_auc": s.get("val_auc"), "val_logloss": s.get("val_logloss"),
                         "status": s["status"], "note": note}
    return sorted(out.values(), key=lambda r: -(r["val_auc"] if r["val_auc"] is not None else -math.inf))


def format_cell(v: Any, digits: int = 4) -> str:
    """A table cell: floats to ``digits`` places (large ones with thousands separators), None/NaN empty."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}f}"
    return str(v)


def star(best: Any) -> str:
    return "★" if best else ""


def markdown(frame: pl.DataFrame, title: str) -> str:
    cols = [("rank", "#"), ("config", "configuration"), ("seeds", "seeds"), ("test_auc", "test AUC"),
            ("test_auc_std", "± std"), ("test_logloss", "test logloss"), ("val_auc", "val AUC"),
            ("params", "params"), ("embedding_bytes", "emb. bytes"), ("train_samples_per_s", "samples/s"),
            ("delta_vs_best", "Δ vs best"), ("ci_low", "95% CI low"), ("ci_high", "95% CI high"),
            ("p_seeds", "p (seeds)"), ("best_of_model", "best of model"), ("status", "status"), ("note", "note")]
    lines = [f"# {title}", "", "| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for r in frame.iter_rows(named=True):
        lines.append("| " + " | ".join(star(r[c]) if c == "best_of_model" else format_cell(r[c]) for c, _ in cols) + " |")
    lines += ["", "Δ vs best: mean test AUC minus the best row's. 95% CI: paired bootstrap of the test AUC "
              "difference on the same test rows (1,000 resamples, first shared seed); an interval containing 0 "
              "means the difference is not established. p (seeds): paired t-test over shared seeds."]
    return "\n".join(lines) + "\n"


def write_leaderboard(exp_dir: Path, study: Study, status: dict[str, dict[str, Any]],
                      frame: Optional[pl.DataFrame] = None) -> pl.DataFrame:
    frame = frame if frame is not None else leaderboard_frame(exp_dir, study, status)
    write_file_atomic(exp_dir / "leaderboard.csv", lambda tmp: frame.write_csv(tmp))
    write_text_atomic(exp_dir / "leaderboard.md", markdown(frame, f"Leaderboard: {study.name}"))
    return frame
