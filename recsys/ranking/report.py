"""Ranking outputs: OutRank-style TSVs, a field list and one self-contained HTML page.

Files written into the report directory:

* ``feature_singles.tsv``: ``Feature, Score`` (randomized relevance in nats), best first;
* ``pairwise_ranks.tsv``: ``FeatureA, FeatureB, Score`` triplets as in the reference:
  ``(field, label)`` relevance, ``(field, field)`` redundancy and
  ``("A AND_REL B", label)`` relations, best first;
* ``3mr_ranks.tsv``: ``Feature, 3mr_ranking`` (the reference's columns);
* ``relations.tsv``: ``FeatureA, FeatureB, Score, Synergy``;
* ``quality.tsv``: per-field data quality (see :func:`recsys.ranking.scores.quality_frame`);
* ``report.html``: inline CSS and inline SVG only (no scripts, no external resources);
* ``top_features.txt`` when ``top_k`` is given: one field name per line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import polars as pl

from recsys.htmlpage import escape, page, table
from recsys.ranking import scores as S

LABEL = "label"
AND_REL = " AND_REL "
BAR_FIELDS = 30
HEATMAP_FIELDS = 40
SCORE_NOTES = {
    "centred": "Score: OutRank's cardinality-aware relevance with Y_shifted (labels re-paired by the "
               "reference's per-value shift), centred: [H(Y) - H(Y|X)] - [H(Y_shifted) - H(Y_shifted|X)].",
    "reference": "Score: OutRank's paper-form randomized relevance H(Y_shifted|X) - H(Y|X).",
    "outrank": "Score: exactly outrank 0.97.5's MI-numba-randomized: H(F_shifted|Y) - H(F|Y) on 16,384-row "
               "minibatches (the package groups by the label and measures the field).",
}
FILES = ("feature_singles.tsv", "pairwise_ranks.tsv", "3mr_ranks.tsv", "relations.tsv",
         "quality.tsv", "report.html")


@dataclass(frozen=True)
class ReportMeta:
    """Run facts shown in the page header."""

    data_dir: str
    split: str
    seconds: float
    alpha: float
    beta: float
    sample: Optional[int]
    score: str = "centred"


def pairwise_frame(t: S.RankingTables) -> pl.DataFrame:
    """All scored triplets in the reference's ``FeatureA, FeatureB, Score`` layout, best first."""
    rel = t.relevance.select(pl.col("Feature").alias("FeatureA"), pl.lit(LABEL).alias("FeatureB"), "Score")
    red = t.redundancy.select("FeatureA", "FeatureB", "Score")
    relations = t.relations.select(
        (pl.col("FeatureA") + AND_REL + pl.col("FeatureB")).alias("FeatureA"),
        pl.lit(LABEL).alias("FeatureB"), "Score")
    return pl.concat([rel, red, relations]).sort("Score", descending=True, maintain_order=True)


def top_features(t: S.RankingTables, k: int) -> list[str]:
    """The first k fields of the 3MR order (relevance order without pairs), leaving out
    fields flagged constant or leakage."""
    bad = {f for f, flags in t.quality.select("Feature", "Flags").iter_rows()
           if {"constant", "leakage"} & set(flags.split(","))}
    order = t.mrmr["Feature"].to_list() if t.pair_batches else t.relevance["Feature"].to_list()
    return [f for f in order if f not in bad][:k]


def write_report(out: Path, t: S.RankingTables, meta: ReportMeta, top_k: Optional[int] = None) -> dict[str, Path]:
    """Write every output file into the directory ``out``; returns name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in FILES}
    t.relevance.select("Feature", "Score").write_csv(paths["feature_singles.tsv"], separator="\t")
    pairwise_frame(t).write_csv(paths["pairwise_ranks.tsv"], separator="\t")
    t.mrmr.write_csv(paths["3mr_ranks.tsv"], separator="\t")
    t.relations.write_csv(paths["relations.tsv"], separator="\t")
    t.quality.write_csv(paths["quality.tsv"], separator="\t")
    paths["report.html"].write_text(render_html(t, meta), encoding="utf-8")
    if top_k is not None:
        paths["top_features.txt"] = out / "top_features.txt"
        paths["top_features.txt"].write_text("".join(f"{f}\n" for f in top_features(t, top_k)))
    return paths


# ---------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------



def _num(x: Optional[float], digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def _meta_table(t: S.RankingTables, meta: ReportMeta) -> str:
    rows = [("DATA_DIR", meta.data_dir), ("split", meta.split), ("rows read", f"{t.rows:,}"),
            ("minibatches", f"{t.batches} (pairs scored on {t.pair_batches})"),
            ("sample", meta.sample if meta.sample is not None else "all rows"),
            ("label entropy H(Y)", f"{t.label_entropy:.4f} nats"),
            ("score", meta.score),
            ("3MR", f"alpha={meta.alpha}, beta={meta.beta}, {t.strategy} aggregation"),
            ("wall time", f"{meta.seconds:.1f} s")]
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="meta">{body}</table>'


def _bars(values: Sequence[float], x0: float, width: float, row_h: int, fill: Sequence[str],
          label: str) -> list[str]:
    """One panel of horizontal bars scaled to its own range (negative bars go left of 0)."""
    finite = [v for v in values if np.isfinite(v)]
    lo, hi = min(finite + [0.0]), max(finite + [1e-12])
    span = hi - lo if hi > lo else 1.0
    zero = x0 + (0 - lo) / span * width
    parts = [f'<text x="{x0}" y="12">{escape(label)}</text>',
             f'<line x1="{zero:.1f}" y1="16" x2="{zero:.1f}" y2="{20 + len(values) * row_h}" stroke="#555"/>']
    for i, v in enumerate(values):
        y = 20 + i * row_h
        end = x0 + (v - lo) / span * width if np.isfinite(v) else zero
        parts.append(f'<rect x="{min(zero, end):.1f}" y="{y + 2}" width="{abs(end - zero):.1f}" '
                     f'height="{row_h - 5}" fill="{fill[i]}"><title>{v:.5f}</title></rect>')
        parts.append(f'<text x="{x0 + width + 4}" y="{y + 12}">{_num(v, 4)}</text>')
    return parts


def bar_svg(names: Sequence[str], score: Sequence[float], mi: Sequence[float], flagged: set[str]) -> str:
    """Two bar panels per field: the ranking score (blue; red if flagged) and plain MI (grey),
    each on its own scale."""
    row_h, left, width, gap = 18, 110, 330, 70
    parts = [f'<text x="{left - 6}" y="{20 + i * row_h + 12}" text-anchor="end">{escape(n)}</text>'
             for i, n in enumerate(names)]
    colors = ["#c62828" if n in flagged else "#1565c0" for n in names]
    parts += _bars(score, left, width, row_h, colors, "score (nats; red: flagged field)")
    parts += _bars(mi, left + width + gap, width, row_h, ["#90a4ae"] * len(names), "plain MI (nats)")
    w, h = left + 2 * width + gap + 60, 30 + len(names) * row_h
    return f'<svg width="{w}" height="{h}" role="img" aria-label="top fields">{"".join(parts)}</svg>'


def _heat_color(v: float) -> str:
    """0 -> white, 1 -> dark blue; NaN -> light grey."""
    if not np.isfinite(v):
        return "#eeeeee"
    a = float(min(1.0, max(0.0, v)))
    r, g, b = (int(255 + (c - 255) * a) for c in (13, 71, 161))
    return f"rgb({r},{g},{b})"


def heatmap_svg(names: Sequence[str], matrix: np.ndarray) -> str:
    """(F, F) redundancy ratios as a colored grid with field names on both axes."""
    cell, left, top = 14, 90, 90
    f = len(names)
    parts = []
    for i, n in enumerate(names):
        y = top + i * cell
        x = left + i * cell
        parts.append(f'<text x="{left - 4}" y="{y + 11}" text-anchor="end">{escape(n)}</text>')
        parts.append(f'<text transform="translate({x + 10},{top - 4}) rotate(-60)">{escape(n)}</text>')
        for j, m in enumerate(names):
            v = matrix[i, j]
            tip = f"{n} / {m}: " + ("self" if i == j else _num(float(v), 3))
            color = "#9e9e9e" if i == j else _heat_color(float(v))
            parts.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                         f'fill="{color}"><title>{escape(tip)}</title></rect>')
    size_w, size_h = left + f * cell + 20, top + f * cell + 40
    scale = "".join(f'<rect x="{left + k * 20}" y="{size_h - 24}" width="20" height="10" fill="{_heat_color(k / 10)}"/>'
                    for k in range(11))
    scale += (f'<text x="{left}" y="{size_h - 4}">0</text>'
              f'<text x="{left + 200}" y="{size_h - 4}">1 (copy)</text>')
    return f'<svg width="{size_w}" height="{size_h}" role="img" aria-label="redundancy">{"".join(parts)}{scale}</svg>'


def _quality_table(q: pl.DataFrame) -> str:
    headers = ["Feature", "Flags", "Kind", "Cardinality", "VocabSize", "Coverage", "OOV share", "Singleton share",
               "Top value", "Top share", "Top-5 share", "Label share", "Redundant with"]
    rows = []
    for r in q.iter_rows(named=True):
        rows.append([escape(r["Feature"]), f'<span class="flag">{escape(r["Flags"])}</span>', escape(r["Kind"]),
                     f'{r["Cardinality"]:,}', f'{r["VocabSize"]:,}', _num(r["Coverage"], 3),
                     _num(r["OOVShare"], 3), _num(r["SingletonShare"], 3), escape(r["TopValue"]),
                     _num(r["TopShare"], 3), _num(r["Top5Share"], 3), _num(r["LabelShare"], 4),
                     escape(r["RedundantWith"])])
    return table(headers, rows, left_cols=3)


def _mrmr_table(t: S.RankingTables) -> str:
    score = dict(t.relevance.select("Feature", "Score").iter_rows())
    rank = {f: i + 1 for i, f in enumerate(t.relevance["Feature"].to_list())}
    rows = [[escape(f), str(r), str(rank[f]), _num(score[f], 5)] for f, r in t.mrmr.head(BAR_FIELDS).iter_rows()]
    return table(["Feature", "3MR rank", "relevance rank", "score"], rows)


def _relations_table(t: S.RankingTables, by: str) -> str:
    top = t.relations.sort(by, descending=True, nulls_last=True).head(15)
    rows = [[escape(a), escape(b), _num(s, 5), _num(y, 5)] for a, b, s, y in top.iter_rows()]
    return table(["Feature A", "Feature B", "relation score", "synergy"], rows, left_cols=2)


def _redundancy_matrix(t: S.RankingTables, names: Sequence[str]) -> np.ndarray:
    idx = {n: i for i, n in enumerate(names)}
    m = np.full((len(names), len(names)), np.nan)
    for a, b, ratio in t.redundancy.select("FeatureA", "FeatureB", "Ratio").iter_rows():
        if a in idx and b in idx and ratio is not None:
            m[idx[a], idx[b]] = m[idx[b], idx[a]] = ratio
    return m


def render_html(t: S.RankingTables, meta: ReportMeta) -> str:
    """The whole report page as one string (inline CSS and SVG, no scripts or links)."""
    flagged = {f for f, fl in t.quality.select("Feature", "Flags").iter_rows() if fl}
    top = t.relevance.head(BAR_FIELDS)
    bars = bar_svg(top["Feature"].to_list(), top["Score"].to_list(), top["MI"].to_list(), flagged)
    heat_names = t.relevance["Feature"].head(HEATMAP_FIELDS).to_list()
    sections = [
        f"<h1>Feature ranking: {escape(meta.data_dir)} ({escape(meta.split)})</h1>", _meta_table(t, meta),
        f"<h2>Top {len(top)} fields by relevance</h2>",
        f'<p class="note">{escape(SCORE_NOTES.get(meta.score, ""))} Median over minibatches; about 0 for a field '
        'with no signal whatever its cardinality. Plain MI H(Y) - H(Y|X) grows with cardinality even '
        'without signal.</p>', bars,
        '<div class="cols"><div><h2>3MR order</h2>', _mrmr_table(t), "</div>",
        "<div><h2>Strongest relations (pair vs label)</h2>", _relations_table(t, "Score"),
        "<h2>Highest synergy (pair beyond its fields)</h2>", _relations_table(t, "Synergy"), "</div></div>",
        f"<h2>Redundancy (top {len(heat_names)} fields)</h2>",
        '<p class="note">Cell: share of the row field\'s background uncertainty removed by the column field '
        '(randomized redundancy / H(A_shifted|B)); 1 means a copy. Grey: not scored.</p>'
        if t.pair_batches else '<p class="note">Pairs were not scored (pairs=False).</p>',
        heatmap_svg(heat_names, _redundancy_matrix(t, heat_names)) if t.pair_batches else "",
        "<h2>Data quality (all fields)</h2>",
        f'<p class="note">Flags: constant (one value); near_unique (distinct/non-missing rows &ge; {S.NEAR_UNIQUE}); '
        f'low_coverage (non-missing share &lt; {S.LOW_COVERAGE}); high_oov (vocabulary id 0 share &ge; {S.HIGH_OOV}); '
        f'leakage (score &ge; {S.LEAK_SHARE} of H(label): suspicious for CTR data); redundant (ratio &ge; '
        f'{S.REDUNDANT_RATIO} with a more relevant field). Cardinality is a HyperLogLog estimate. '
        'Singleton share: rows whose value occurs once in its minibatch (skipped by the score).</p>',
        _quality_table(t.quality)]
    body = "\n".join(sections)
    return page("Feature ranking", body)
