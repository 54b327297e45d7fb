"""``EXP_DIR/report.html``: the study on one self-contained page (inline CSS, SVG and PNG).

The leaderboard; test AUC against params (with the Pareto front) and against embedding
bytes; every run's validation AUC per epoch from its ``history.jsonl``; the search's drawn
configurations and what ASHA did with them; OptFS / OptInter / OutRank summaries of the runs
that have them. Readable without the CSVs and without a network.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from pathlib import Path
from typing import Any, Optional, Sequence

import polars as pl

from recsys.experiments.leaderboard import format_cell, star
from recsys.experiments.study import Study
from recsys.files import write_text_atomic
from recsys.plots import pyplot
from recsys.htmlpage import escape, page, table


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    pyplot().close(fig)
    text = buf.getvalue()
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


def _png_inline(path: Path, alt: str, width: int = 520) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{escape(alt)}" width="{width}" src="data:image/png;base64,{data}">'


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both cost (lower) and AUC (higher), by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def scatter_svg(frame: pl.DataFrame, cost: str, label: str) -> str:
    """Test AUC (mean over seeds, with std bars) against ``cost`` on a log axis, front joined;
    points are labelled with their leaderboard rank."""
    plt = pyplot()
    done = frame.filter(pl.col("status") == "finished")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    xs, ys = done[cost].to_list(), done["test_auc"].to_list()
    ax.errorbar(xs, ys, yerr=done["test_auc_std"].to_list(), fmt="o", ms=5, capsize=3)
    for x, y, rank in zip(xs, ys, done["rank"].to_list()):
        ax.annotate(f"#{rank}", (x, y), fontsize=8, xytext=(4, 3), textcoords="offset points")
    front = pareto_front(list(zip(xs, ys)))
    ax.plot([xs[i] for i in front], [ys[i] for i in front], "--", color="#b00020", lw=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("test AUC")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _svg(fig)


def curves_svg(histories: dict[str, list[dict[str, Any]]]) -> str:
    """Validation AUC per epoch, one line per run."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 4.0))
    for name, rows in histories.items():
        ax.plot([r["epoch"] for r in rows], [r["val_auc"] for r in rows], marker="o", ms=3, lw=1,
                label=name[:40])
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation AUC")
    ax.grid(alpha=0.3)
    if len(histories) <= 24:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _svg(fig)


def _histories(exp_dir: Path, study: Study) -> dict[str, list[dict[str, Any]]]:
    from recsys.experiments.runner import run_dir_of

    out = {}
    for t in study.trials:
        path = run_dir_of(exp_dir, t) / "history.jsonl"
        if path.is_file():
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if rows:
                out[t.id] = rows
    return out


LEADERBOARD_COLUMNS = [("rank", "#"), ("config", "configuration"), ("seeds", "seeds"), ("test_auc", "test AUC"),
                       ("test_auc_std", "± std"), ("test_logloss", "test logloss"), ("val_auc", "val AUC"),
                       ("params", "params"), ("embedding_bytes", "emb. bytes"),
                       ("train_samples_per_s", "samples/s"), ("delta_vs_best", "Δ vs best"),
                       ("ci_low", "95% CI low"), ("ci_high", "95% CI high"), ("p_seeds", "p (seeds)"),
                       ("best_of_model", "best"), ("status", "status"), ("note", "note")]


def leaderboard_html(frame: pl.DataFrame) -> str:
    rows = []
    for r in frame.iter_rows(named=True):
        cells = [star(r[c]) if c == "best_of_model" else escape(format_cell(r[c])) for c, _ in LEADERBOARD_COLUMNS]
        if r["ci_low"] is not None and r["ci_high"] is not None and (r["ci_low"] > 0 or r["ci_high"] < 0):
            cells[11], cells[12] = (f'<span class="flag">{c}</span>' for c in (cells[11], cells[12]))
        rows.append(cells)
    return table([h for _, h in LEADERBOARD_COLUMNS], rows, left_cols=2)


def _search_html(study: Study, status: dict[str, dict[str, Any]]) -> str:
    trials = [t for t in study.trials if t.search]
    if not trials or study.search is None:
        return ""
    s = study.search
    space = list(s.space)
    rows = []
    for t in trials:
        st = status.get(t.id, {"status": "not run"})
        rows.append([escape(t.config)] + [escape(format_cell(t.keys.get(k))) for k in space] +
                    [escape(st["status"]), escape(format_cell(st.get("epoch"))), escape(format_cell(st.get("val_auc"))),
                     escape(format_cell(st.get("test_auc"))), escape(st.get("error", ""))])
    head = (f"<p class=note>ASHA on {s.metric} ({s.mode}): {s.trials} configurations, grace period "
            f"{s.grace_period} epoch(s), reduction factor {s.reduction_factor}, at most {s.max_epochs} epochs.</p>")
    return "<h2>Search</h2>" + head + table(["trial"] + space + ["status", "epochs", "val AUC", "test AUC",
                                                                  "error"], rows)


def _methods_html(exp_dir: Path, study: Study) -> str:
    """OptFS / OptInter / OutRank-seeded runs: their counts and charts (first seed of each)."""
    from recsys.experiments.runner import run_dir_of

    parts, seen = [], set()
    for t in study.trials:
        run = run_dir_of(exp_dir, t)
        if t.config in seen or not (run / "metrics.json").is_file():
            continue
        m = json.loads((run / "metrics.json").read_text())
        bits = []
        if "optfs" in m:
            o = m["optfs"]
            bits.append(f"OptFS kept {o['kept_rows']:,} of {o['total_rows']:,} embedding rows; bytes "
                        f"{m['embedding_bytes_unpruned']:,} → {m['embedding_bytes']:,}")
            if (run / "optfs" / "fields.png").is_file():
                bits.append(_png_inline(run / "optfs" / "fields.png", "OptFS per-field kept share"))
        if "optinter" in m:
            o = m["optinter"]
            bits.append(f"OptInter over {o['pairs']} pairs: memorize {o['memorize']}, factorize {o['factorize']}, "
                        f"naive {o['naive']}; params {m['params']:,} (all-memorize {o['all_memorize']['params']:,}, "
                        f"all-factorize {o['all_factorize']['params']:,})")
            if (run / "optinter" / "methods.png").is_file():
                bits.append(_png_inline(run / "optinter" / "methods.png", "OptInter chosen methods"))
        if t.candidates is not None:
            bits.append(f"OutRank-seeded: candidate pairs from {escape(t.candidates)}")
        if t.cfg.features is not None:
            bits.append(f"trained on {len(t.cfg.features)} selected fields")
        if bits:
            seen.add(t.config)
            parts.append(f"<h3>{escape(t.config)}</h3>" + "".join(f"<p>{b}</p>" if not b.startswith("<img") else b
                                                              for b in bits))
    return ("<h2>Feature selection and interactions</h2>" + "".join(parts)) if parts else ""


def _dataset_html(exp_dir: Path, study: Study) -> str:
    spec = study.dataset
    data = spec.data_dir or exp_dir / "data"
    info = json.loads((data / "dataset.json").read_text()) if (data / "dataset.json").is_file() else {}
    splits = info.get("splits", {})
    src = (f"DATA_DIR {spec.data_dir}" if spec.data_dir else f"synthetic {spec.format}, {spec.synth}"
           if spec.synth else f"raw {spec.format}: {', '.join(map(str, spec.raw))}")
    return (f"<p>Dataset: {escape(src)}; split {escape(spec.split or 'as configured')}; rows "
            + ", ".join(f"{k} {v:,}" for k, v in splits.items()) + "</p>")


def render(exp_dir: Path, study: Study, status: dict[str, dict[str, Any]], frame: pl.DataFrame) -> str:
    done = frame.filter(pl.col("status") == "finished")
    counts = {s: sum(1 for v in status.values() if v["status"] == s) for s in ("finished", "stopped", "failed")}
    body = [f"<h1>Study: {escape(study.name)}</h1>", _dataset_html(exp_dir, study),
            f"<p>{len(study.trials)} trials: {counts['finished']} finished, {counts['stopped']} stopped by ASHA, "
            f"{counts['failed']} failed, {len(study.trials) - sum(counts.values())} not run.</p>",
            "<h2>Leaderboard</h2>", leaderboard_html(frame),
            "<p class=note>Mean over seeds. Δ vs best: test AUC minus the best row's. 95% CI: paired bootstrap of "
            "the test AUC difference on the same test rows (first shared seed); red when it excludes 0, i.e. the "
            "best row is significantly better. p (seeds): paired t-test over shared seeds.</p>"]
    if done.height:
        body += ["<h2>Quality against size</h2><div class=cols>",
                 f"<div><h3>test AUC vs trainable params</h3>{scatter_svg(done, 'params', 'trainable parameters')}</div>",
                 f"<div><h3>test AUC vs embedding bytes</h3>"
                 f"{scatter_svg(done, 'embedding_bytes', 'embedding table bytes')}</div></div>"]
    histories = _histories(exp_dir, study)
    if histories:
        body += ["<h2>Learning curves</h2>", curves_svg(histories)]
    body += [_search_html(study, status), _methods_html(exp_dir, study)]
    return page(f"Study {study.name}", "\n".join(b for b in body if b))


def write_report(exp_dir: Path, study: Study, status: dict[str, dict[str, Any]],
                 frame: Optional[pl.DataFrame] = None) -> Path:
    from recsys.experiments.leaderboard import leaderboard_frame

    frame = frame if frame is not None else leaderboard_frame(exp_dir, study, status)
    path = exp_dir / "report.html"
    write_text_atomic(path, render(exp_dir, study, status, frame))
    return path
