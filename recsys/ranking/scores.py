"""Feature scores for sparse CTR data, after OutRank (Škrlj and Mramor, RecSys 2023).

Every estimator works on one minibatch of rows and is aggregated over minibatches by the
median, as the reference does. Single-field scores use ``batch_rows``: 65536 (one prepared
row group) for the default modes, since the plug-in noise of a no-signal field falls like
1/rows-per-batch; 16384 (outrank's default ``--minibatch_size``) for ``score="outrank"``.
The F*(F-1)/2 pair scores use 8192-row minibatches (16384 for ``score="outrank"``) taken
from about ``pair_rows`` rows spread over the data.
All counting is vectorized (``np.bincount`` / ``np.unique`` on packed integer keys); no
Python loop runs over rows.

Scores are defined in :mod:`recsys.ranking.estimators`; this module streams a split in
minibatches, aggregates them, scores data quality and builds the 3MR ranking and tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.errors import DataDirError
from recsys.ranking.estimators import (Grouping, entropy, factorize, outrank_relevance_batch, pair_batch,
                                       relevance_batch)
from recsys.features.hashing import splitmix64_numpy

BATCH_ROWS = 1 << 16  # single-field minibatch: one prepared row group (see module docstring)
SCORE_MODES = ("centred", "reference", "outrank")
PAIR_BATCH_ROWS = 1 << 13  # pair minibatch (default modes)
OUTRANK_BATCH_ROWS = 1 << 14  # outrank 0.97.5's default --minibatch_size (score="outrank")
MIN_BATCH_ROWS = 1 << 10  # the reference scores a trailing batch only above 2**10 rows
PAIR_ROWS = 1 << 17  # rows (in pair minibatches spread over the data) used for pair scores
DENSE_BINS = 32
HLL_P = 14
TOP_CAPACITY = 256
MISSING_DENSE = np.iinfo(np.int64).min

# Quality thresholds (documented in report.html).
LEAK_SHARE = 0.3  # relevance above this share of H(label) is suspicious for CTR data
NEAR_UNIQUE = 0.9  # distinct values / non-missing rows
REDUNDANT_RATIO = 0.5  # redundancy ratio above which the weaker field is flagged
LOW_COVERAGE = 0.05
HIGH_OOV = 0.5


# ---------------------------------------------------------------------------------------
# Reading a prepared split in minibatches
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One field to rank: manifest kind, its missing id and OOV id (None where not defined)."""

    name: str
    kind: str
    transform: str
    cardinality: int
    missing_id: Optional[int]
    oov_id: Optional[int]


def plan_row_groups(files: Sequence[Path], sample: Optional[int]) -> list[tuple[Path, int, int]]:
    """(file, row group, rows) to read: all, or about ``sample`` rows spread evenly over the split."""
    groups: list[tuple[Path, int, int]] = []
    for f in files:
        try:
            meta = pq.ParquetFile(f).metadata
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataDirError(f"{f}: unreadable Parquet part ({exc})") from exc
        groups += [(f, i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
    total = sum(g[2] for g in groups)
    if sample is None or sample >= total or not groups:
        return groups
    per_group = total / len(groups)
    want = min(len(groups), max(1, math.ceil(sample / per_group)))
    picks = np.unique(np.linspace(0, len(groups) - 1, want).round().astype(int))
    return [groups[i] for i in picks]


def _read_tables(plan: Sequence[tuple[Path, int, int]], columns: list[str],
                 sample: Optional[int]) -> Iterator[pa.Table]:
    """Row groups of the plan, truncated so at most ``sample`` rows come out in total."""
    left = sample if sample is not None else None
    handles: dict[Path, pq.ParquetFile] = {}
    for path, rg, _ in plan:
        if left is not None and left <= 0:
            return
        pf = handles.setdefault(path, pq.ParquetFile(path))
        missing = [c for c in columns if c not in pf.schema_arrow.names]
        if missing:
            raise DataDirError(f"{path}: columns {missing} missing (DATA_DIR does not match dataset.json)")
        table = pf.read_row_group(rg, columns=columns)
        if left is not None:
            table = table.slice(0, left)
            left -= table.num_rows
        yield table


def rebatch(tables: Iterator[pa.Table], batch_rows: int) -> Iterator[pa.Table]:
    """Fixed-size minibatches across row groups, then the remainder (scored only if it has
    at least ``MIN_BATCH_ROWS`` rows or is the only batch). Holds at most one row group
    plus one minibatch."""
    pending: list[pa.Table] = []
    held = 0
    for table in tables:
        pending.append(table)
        held += table.num_rows
        while held >= batch_rows:
            merged = pa.concat_tables(pending)
            yield merged.slice(0, batch_rows)
            rest = merged.slice(batch_rows)
            pending, held = ([rest] if rest.num_rows else []), rest.num_rows
    if held:
        yield pa.concat_tables(pending)


class QuantileBins:
    """Discretizes a dense float column by quantile edges fitted on the first batch."""

    def __init__(self, sample: np.ndarray, bins: int = DENSE_BINS) -> None:
        finite = sample[np.isfinite(sample)]
        qs = np.linspace(0, 1, bins + 1)[1:-1]
        self.edges = np.unique(np.quantile(finite, qs)) if finite.size else np.zeros(0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(n,) floats -> (n,) int64 bin ids; NaN -> ``MISSING_DENSE``."""
        out = np.searchsorted(self.edges, x, side="right").astype(np.int64)
        out[~np.isfinite(x)] = MISSING_DENSE
        return out


def column_values(table: pa.Table, spec: FieldSpec, bins: dict[str, QuantileBins]) -> np.ndarray:
    """One column of a batch as (n,) int64 ids (dense floats discretized, nulls -> missing)."""
    col = table.column(spec.name)
    if pa.types.is_floating(col.type):
        x = col.to_numpy(zero_copy_only=False).astype(np.float64)
        if spec.name not in bins:
            bins[spec.name] = QuantileBins(x)
        return bins[spec.name](x)
    if not pa.types.is_integer(col.type):
        raise DataDirError(f"field {spec.name}: column type {col.type} is neither integer ids nor float")
    if col.null_count:
        fill = spec.missing_id if spec.missing_id is not None else MISSING_DENSE
        col = col.fill_null(fill)
    return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


# ---------------------------------------------------------------------------------------
# Data quality, streamed
# ---------------------------------------------------------------------------------------


def _leading_zeros64(x: np.ndarray) -> np.ndarray:
    """Leading zero bits of (n,) uint64 values (64 for zero)."""
    out = np.full(x.shape, 64, dtype=np.int64)
    nz = x != 0
    out[nz] = 63 - np.floor(np.log2(x[nz].astype(np.float64))).astype(np.int64)
    return np.clip(out, 0, 64)


class HyperLogLog:
    """Distinct-count sketch (2**HLL_P one-byte registers, ~0.8% error) over int64 ids.

    Fixed memory whatever the row count, like the reference's HyperLogLog cardinalities.
    """

    def __init__(self, p: int = HLL_P) -> None:
        self.p = p
        self.registers = np.zeros(1 << p, dtype=np.uint8)

    def add(self, values: np.ndarray) -> None:
        """Add (n,) int64 values (already distinct values of a batch are cheapest)."""
        h = splitmix64_numpy(values.astype(np.int64).view(np.uint64))
        idx = (h >> np.uint64(64 - self.p)).astype(np.intp)
        rest = h << np.uint64(self.p)
        rho = np.minimum(_leading_zeros64(rest) + 1, 64 - self.p + 1).astype(np.uint8)
        np.maximum.at(self.registers, idx, rho)

    def estimate(self) -> float:
        """Cardinality estimate with the small-range (linear counting) correction."""
        m = float(self.registers.shape[0])
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.exp2(-self.registers.astype(np.float64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return m * math.log(m / zeros)
        return raw


@dataclass
class FieldQuality:
    """Streaming quality counters of one field (memory independent of the row count)."""

    spec: FieldSpec
    rows: int = 0
    missing: int = 0
    oov: int = 0
    singleton_rows: int = 0
    hll: HyperLogLog = field(default_factory=HyperLogLog)
    top_values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    top_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def add(self, values: np.ndarray, group: Grouping, distinct: np.ndarray) -> None:
        """Update with one batch: (n,) ids, their Grouping and (k,) distinct values."""
        self.rows += values.shape[0]
        if self.spec.missing_id is not None:
            self.missing += int(np.count_nonzero(values == self.spec.missing_id))
        if self.spec.oov_id is not None:
            self.oov += int(np.count_nonzero(values == self.spec.oov_id))
        self.singleton_rows += int(np.count_nonzero(group.counts == 1))
        self.hll.add(distinct.astype(np.int64))
        self._merge_top(distinct.astype(np.int64), group.counts)

    def _merge_top(self, values: np.ndarray, counts: np.ndarray) -> None:
        """Keep the TOP_CAPACITY most frequent values seen so far (heavy-hitter summary)."""
        v = np.concatenate([self.top_values, values])
        c = np.concatenate([self.top_counts, counts])
        uniq, inv = np.unique(v, return_inverse=True)
        summed = np.bincount(inv.reshape(-1), weights=c).astype(np.int64)
        keep = np.argsort(-summed, kind="stable")[:TOP_CAPACITY]
        self.top_values, self.top_counts = uniq[keep], summed[keep]


# ---------------------------------------------------------------------------------------
# Streaming accumulation over the split
# ---------------------------------------------------------------------------------------


@dataclass
class BatchScores:
    """Per-batch scores, medians taken at the end: lists of (F,) or (P,) arrays; ``rows``
    counts every row read (quality covers them all)."""

    relevance: list[np.ndarray] = field(default_factory=list)
    reference: list[np.ndarray] = field(default_factory=list)
    mi: list[np.ndarray] = field(default_factory=list)
    redundancy: list[np.ndarray] = field(default_factory=list)
    ratio: list[np.ndarray] = field(default_factory=list)
    relation: list[np.ndarray] = field(default_factory=list)
    label_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rows: int = 0


def all_pairs(names: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, in column order (i is the target, as in the reference)."""
    return [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]


def pair_plan(total_rows: int, batch_rows: int, pair_rows: int,
              pair_batch_rows: int = PAIR_BATCH_ROWS) -> dict[int, int]:
    """Batch index -> how many pair minibatches to cut from it: about ``pair_rows`` rows,
    from batches spread evenly over the data."""
    n_batches = max(1, math.ceil(total_rows / batch_rows))
    wanted = max(1, pair_rows // pair_batch_rows)
    per_batch = max(1, batch_rows // pair_batch_rows)
    use = min(n_batches, math.ceil(wanted / per_batch))
    plan: dict[int, int] = {}
    for b in np.unique(np.linspace(0, n_batches - 1, use).round().astype(int)).tolist():
        take = min(per_batch, wanted - sum(plan.values()))
        if take > 0:
            plan[int(b)] = take
    return plan


def _add_label_counts(acc: BatchScores, values: np.ndarray) -> None:
    """Accumulate label class counts (labels are non-negative class ids, 0/1 for CTR)."""
    if values.size and int(values.min()) < 0:
        raise DataDirError(f"label values must be non-negative class ids (got {int(values.min())})")
    counts = np.bincount(values, minlength=acc.label_counts.shape[0])
    acc.label_counts = counts + np.pad(acc.label_counts, (0, counts.shape[0] - acc.label_counts.shape[0]))


def score_stream(batches: Iterator[pa.Table], specs: Sequence[FieldSpec], pair_chunks: dict[int, int],
                 pairs: Sequence[tuple[int, int]], label: str = "label", centred: bool = True,
                 pair_batch_rows: int = PAIR_BATCH_ROWS, score: Optional[str] = None,
                 batch_rows: Optional[int] = None) -> tuple[BatchScores, list[FieldQuality]]:
    """Score every minibatch: relevance always, pairs on the chunks of ``pair_chunks``
    (:func:`pair_plan`); quality counters on every row.

    ``score`` (one of :data:`SCORE_MODES`; ``None``: ``"centred"`` if ``centred`` else
    ``"reference"``) picks the score that feeds relevance and relations; the transposed
    reference relevance (:meth:`Terms.reference`) is kept either way. A trailing remainder
    (fewer than ``batch_rows`` rows, when given) is scored only from ``MIN_BATCH_ROWS``
    rows, or, with ``"outrank"``, above ``MIN_BATCH_ROWS`` rows (outrank's ``> 2**10``).
    """
    if score is None:
        score = "centred" if centred else "reference"
    if score not in SCORE_MODES:
        raise ValueError(f"score must be one of {SCORE_MODES}, got {score!r}")
    min_rows = MIN_BATCH_ROWS + 1 if score == "outrank" else MIN_BATCH_ROWS
    acc = BatchScores()
    quality = [FieldQuality(s) for s in specs]
    bins: dict[str, QuantileBins] = {}
    for b, table in enumerate(batches):
        y = _label_values(table, label)
        _add_label_counts(acc, y)
        lab, _ = factorize(y)
        columns, groups = [], []
        for spec, q in zip(specs, quality):
            values = column_values(table, spec, bins)
            g, distinct = factorize(values)
            q.add(values, g, distinct)
            columns.append(values)
            groups.append(g)
        acc.rows += table.num_rows
        remainder = batch_rows is None or table.num_rows < batch_rows
        if table.num_rows < min_rows and remainder and b > 0:
            continue  # a short trailing remainder: counted for quality, not scored
        cen, ref, mi = relevance_batch(groups, lab)
        if score == "outrank":
            acc.relevance.append(outrank_relevance_batch(groups, lab))
        else:
            acc.relevance.append(cen if score == "centred" else ref)
        acc.reference.append(ref)
        acc.mi.append(mi)
        if pairs:
            for start in range(0, pair_chunks.get(b, 0) * pair_batch_rows, pair_batch_rows):
                if start and start + MIN_BATCH_ROWS > table.num_rows:
                    break
                _score_pairs(acc, columns, y, slice(start, start + pair_batch_rows), pairs, score)
    return acc, quality


def _label_values(table: pa.Table, label: str) -> np.ndarray:
    """The label column as (n,) int64 class ids."""
    col = table.column(label)
    if col.null_count:
        raise DataDirError(f"label column '{label}' has missing values")
    return col.to_numpy(zero_copy_only=False).astype(np.int64)


def _score_pairs(acc: BatchScores, columns: Sequence[np.ndarray], y: np.ndarray, rows: slice,
                 pairs: Sequence[tuple[int, int]], score: str) -> None:
    """Pair scores of one pair minibatch (the ``rows`` slice of a batch)."""
    groups = [factorize(c[rows])[0] for c in columns]
    lab, _ = factorize(y[rows])
    scores = np.array([pair_batch(groups[i], groups[j], lab, score=score) for i, j in pairs])
    acc.redundancy.append(scores[:, 0])
    acc.ratio.append(scores[:, 1])
    acc.relation.append(scores[:, 2])


# ---------------------------------------------------------------------------------------
# 3MR
# ---------------------------------------------------------------------------------------


def minmax(x: np.ndarray) -> np.ndarray:
    """Min-max normalize (the reference normalizes each score family before 3MR)."""
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return np.zeros_like(x)
    lo, hi = float(finite.min()), float(finite.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


STRATEGIES = ("median", "mean", "sum", "max")


def rank_3mr(relevance: np.ndarray, redundancy: np.ndarray, relations: np.ndarray,
             alpha: float = 1.0, beta: float = 1.0, strategy: str = "median") -> list[int]:
    """Greedy 3MR order of field indices.

    ``relevance`` (F,), ``redundancy`` and ``relations`` (F, F) symmetric, already
    normalized; NaN means "not scored" and is left out (as the reference skips missing
    tuples). Step 1 takes the most relevant field; each next step takes ``argmax relevance
    - alpha * agg(redundancy to selected) + beta * agg(relations to selected)``, ``agg``
    the reference's median by default (ties: first in column order).
    """
    f = relevance.shape[0]
    if f == 0:
        return []
    selected = [int(np.argmax(relevance))]
    left = np.ones(f, dtype=bool)
    left[selected[0]] = False
    while left.any():
        cand = np.flatnonzero(left)
        chosen = np.asarray(selected, dtype=np.int64)
        red = _aggregate_rows(redundancy[np.ix_(cand, chosen)], strategy)
        rel = _aggregate_rows(relations[np.ix_(cand, chosen)], strategy)
        score = relevance[cand] - alpha * red + beta * rel
        best = int(cand[int(np.argmax(score))])
        selected.append(best)
        left[best] = False
    return selected


def _aggregate_rows(m: np.ndarray, strategy: str) -> np.ndarray:
    """Row-wise median/mean/sum/max ignoring NaN; rows that are all NaN give 0 (no evidence)."""
    out = np.zeros(m.shape[0])
    has = np.isfinite(m).any(axis=1)
    if has.any():
        rows = m[has]
        if strategy == "mean":
            out[has] = np.nanmean(rows, axis=1)
        elif strategy == "sum":
            out[has] = np.nansum(rows, axis=1)
        elif strategy == "max":
            out[has] = np.nanmax(rows, axis=1)
        else:
            out[has] = np.nanmedian(rows, axis=1)
    return out


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankingTables:
    """Everything scored for one split (all frames are Polars; scores in nats).

    relevance: Feature, Score (the chosen cardinality-aware score, median over batches),
        Reference (the transposed H(Y_shifted|X) - H(Y|X), see the module docstring),
        MI (plain), LabelShare (Score / H(label)), sorted by Score descending.
        redundancy: FeatureA, FeatureB, Score, Ratio.
    relations: FeatureA, FeatureB, Score, Synergy (Score - relevance A - relevance B).
    mrmr: Feature, 3mr_ranking. quality: one row per field (see :func:`quality_frame`).
    """

    relevance: pl.DataFrame
    redundancy: pl.DataFrame
    relations: pl.DataFrame
    mrmr: pl.DataFrame
    quality: pl.DataFrame
    fields: list[str]
    rows: int
    batches: int
    pair_batches: int
    label_entropy: float
    strategy: str = "median"


def _median(rows: list[np.ndarray], width: int) -> np.ndarray:
    return np.median(np.vstack(rows), axis=0) if rows else np.full(width, np.nan)


def _pair_frames(names: Sequence[str], pairs: Sequence[tuple[int, int]], acc: BatchScores,
                 relevance: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Redundancy and relation frames (one row per unordered pair, column order)."""
    a = [names[i] for i, _ in pairs]
    b = [names[j] for _, j in pairs]
    red = _median(acc.redundancy, len(pairs))
    ratio = _median(acc.ratio, len(pairs))
    relation = _median(acc.relation, len(pairs))
    ia = np.array([i for i, _ in pairs], dtype=np.int64)
    ib = np.array([j for _, j in pairs], dtype=np.int64)
    synergy = relation - relevance[ia] - relevance[ib] if pairs else np.zeros(0)
    redundancy = pl.DataFrame({"FeatureA": a, "FeatureB": b, "Score": red, "Ratio": ratio},
                              schema={"FeatureA": pl.String, "FeatureB": pl.String,
                                      "Score": pl.Float64, "Ratio": pl.Float64})
    relations = pl.DataFrame({"FeatureA": a, "FeatureB": b, "Score": relation, "Synergy": synergy},
                             schema={"FeatureA": pl.String, "FeatureB": pl.String,
                                     "Score": pl.Float64, "Synergy": pl.Float64})
    return (redundancy.sort("Score", descending=True, maintain_order=True),
            relations.sort("Score", descending=True, maintain_order=True))


def _square(index: dict[str, int], a: Sequence[str], b: Sequence[str], values: np.ndarray) -> np.ndarray:
    """Pair values -> (F, F) symmetric matrix over ``index``, NaN where not scored."""
    m = np.full((len(index), len(index)), np.nan)
    ia = np.array([index[x] for x in a], dtype=np.int64)
    ib = np.array([index[x] for x in b], dtype=np.int64)
    if ia.size:
        m[ia, ib] = values
        m[ib, ia] = values
    return m


def three_mr(relevance: pl.DataFrame, redundancy: pl.DataFrame, relations: pl.DataFrame,
             alpha: float = 1.0, beta: float = 1.0, strategy: str = "median") -> pl.DataFrame:
    """3MR order (``Feature, 3mr_ranking``) from the score frames of :class:`RankingTables`.

    Each score family is min-max normalized first, as the reference does; redundancy is
    normalized over field pairs only (the reference also mixes in the diagonal
    self-scores, which 3MR never reads). Re-run it with other weights without rescoring.
    """
    names = relevance["Feature"].to_list()
    index = {n: i for i, n in enumerate(names)}
    red = _square(index, redundancy["FeatureA"].to_list(), redundancy["FeatureB"].to_list(),
                  minmax(redundancy["Score"].to_numpy().astype(np.float64)))
    rel = _square(index, relations["FeatureA"].to_list(), relations["FeatureB"].to_list(),
                  minmax(relations["Score"].to_numpy().astype(np.float64)))
    order = rank_3mr(minmax(relevance["Score"].to_numpy().astype(np.float64)), red, rel, alpha, beta, strategy)
    return pl.DataFrame({"Feature": [names[i] for i in order], "3mr_ranking": list(range(1, len(order) + 1))},
                        schema={"Feature": pl.String, "3mr_ranking": pl.Int64})


def _top_summary(q: FieldQuality, labels: dict[int, str]) -> tuple[str, float, float]:
    """(top value shown, top share, top-5 share) of a field."""
    if q.rows == 0 or q.top_counts.size == 0:
        return "", 0.0, 0.0
    top = int(q.top_values[0])
    shown = labels.get(top, str(top))
    return shown, float(q.top_counts[0]) / q.rows, float(q.top_counts[:5].sum()) / q.rows


def _redundant_with(redundancy: pl.DataFrame, score: dict[str, float]) -> tuple[dict[str, str], set[str]]:
    """Pairs with Ratio >= REDUNDANT_RATIO: each member -> its partner(s), and the weaker
    member of each pair (the one to drop, flagged ``redundant``)."""
    partners: dict[str, list[str]] = {}
    weaker: set[str] = set()
    strong = redundancy.filter(pl.col("Ratio") >= REDUNDANT_RATIO).sort("Ratio", descending=True)
    for a, b in strong.select("FeatureA", "FeatureB").iter_rows():
        partners.setdefault(a, []).append(b)
        partners.setdefault(b, []).append(a)
        weaker.add(a if score[a] < score[b] else b)
    return {f: ",".join(p) for f, p in partners.items()}, weaker


def quality_frame(quality: Sequence[FieldQuality], rel: dict[str, float], label_entropy: float,
                  redundancy: pl.DataFrame, value_labels: dict[str, dict[int, str]]) -> pl.DataFrame:
    """One row per field: Feature, Kind, Transform, VocabSize, Rows, Cardinality, UniqueRatio,
    Coverage, OOVShare, SingletonShare, TopValue, TopShare, Top5Share, LabelShare,
    RedundantWith, Flags (comma-separated: constant, near_unique, low_coverage, high_oov,
    leakage, redundant). RedundantWith lists the partners of every member of a redundant
    pair; only the less relevant member is flagged ``redundant``."""
    partners, weaker = _redundant_with(redundancy, rel)
    rows = []
    for q in quality:
        name = q.spec.name
        card = int(round(q.hll.estimate())) if q.rows else 0
        present = q.rows - q.missing
        coverage = present / q.rows if q.rows else 0.0
        oov = q.oov / q.rows if (q.rows and q.spec.oov_id is not None) else None
        top, top_share, top5 = _top_summary(q, value_labels.get(name, {}))
        share = rel[name] / label_entropy if label_entropy > 0 else 0.0
        unique_ratio = min(1.0, card / present) if present else 0.0
        flags = [flag for flag, on in (
            ("constant", card <= 1), ("near_unique", unique_ratio >= NEAR_UNIQUE and present > 1),
            ("low_coverage", coverage < LOW_COVERAGE), ("high_oov", oov is not None and oov >= HIGH_OOV),
            ("leakage", share >= LEAK_SHARE), ("redundant", name in weaker)) if on]
        rows.append({"Feature": name, "Kind": q.spec.kind, "Transform": q.spec.transform,
                     "VocabSize": q.spec.cardinality, "Rows": q.rows, "Cardinality": card,
                     "UniqueRatio": unique_ratio, "Coverage": coverage, "OOVShare": oov,
                     "SingletonShare": q.singleton_rows / q.rows if q.rows else 0.0,
                     "TopValue": top, "TopShare": top_share, "Top5Share": top5, "LabelShare": share,
                     "RedundantWith": partners.get(name, ""), "Flags": ",".join(flags)})
    return pl.DataFrame(rows, schema=QUALITY_SCHEMA)


QUALITY_SCHEMA = {"Feature": pl.String, "Kind": pl.String, "Transform": pl.String, "VocabSize": pl.Int64,
                  "Rows": pl.Int64, "Cardinality": pl.Int64, "UniqueRatio": pl.Float64,
                  "Coverage": pl.Float64, "OOVShare": pl.Float64, "SingletonShare": pl.Float64,
                  "TopValue": pl.String, "TopShare": pl.Float64, "Top5Share": pl.Float64,
                  "LabelShare": pl.Float64, "RedundantWith": pl.String, "Flags": pl.String}


def build_tables(specs: Sequence[FieldSpec], pairs: Sequence[tuple[int, int]], acc: BatchScores,
                 quality: Sequence[FieldQuality], alpha: float, beta: float,
                 value_labels: dict[str, dict[int, str]], strategy: str = "median") -> RankingTables:
    """Aggregate per-batch scores by the median and assemble every table."""
    names = [s.name for s in specs]
    relevance = _median(acc.relevance, len(names))
    reference = _median(acc.reference, len(names))
    mi = _median(acc.mi, len(names))
    h_y = entropy(acc.label_counts)
    redundancy, relations = _pair_frames(names, pairs, acc, relevance)
    rel = dict(zip(names, relevance.tolist()))
    share = relevance / h_y if h_y > 0 else np.zeros_like(relevance)
    relevance_df = pl.DataFrame({"Feature": names, "Score": relevance, "Reference": reference, "MI": mi,
                                 "LabelShare": share},
                                schema={"Feature": pl.String, "Score": pl.Float64, "Reference": pl.Float64,
                                        "MI": pl.Float64, "LabelShare": pl.Float64})
    return RankingTables(
        relevance=relevance_df.sort("Score", descending=True, maintain_order=True),
        redundancy=redundancy, relations=relations,
        mrmr=three_mr(relevance_df, redundancy, relations, alpha, beta, strategy),
        quality=quality_frame(quality, rel, h_y, redundancy, value_labels),
        fields=names, rows=acc.rows, batches=len(acc.relevance), pair_batches=len(acc.redundancy),
        label_entropy=h_y, strategy=strategy)
