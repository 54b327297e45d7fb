"""``rank_dataset``: score every field of a prepared split and write the ranking report.

Reads the split's Parquet row groups in fixed minibatches (memory bounded by one row
group plus one minibatch), scores them with :mod:`recsys.ranking.scores` and writes the
outputs of :mod:`recsys.ranking.report` into a temporary sibling directory that replaces
``out`` only when complete.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import polars as pl

from recsys.data.dataset_dir import DatasetInfo, open_dataset
from recsys.errors import ConfigError, DataDirError
from recsys.features.fitted import OOV_ID
from recsys.files import replace_dir, temp_dir_for
from recsys.features.hashing import hash_string
from recsys.ranking import report
from recsys.ranking import scores as S

LABEL = "label"
SCORES = S.SCORE_MODES


@dataclass(frozen=True)
class RankResult:
    """What ``rank_dataset`` produced: the score tables, where the files are, how long it took.

    ``tables`` holds the Polars frames (relevance, redundancy, relations, mrmr, quality);
    ``paths`` maps each written file name to its final path under ``out``.
    """

    out: Path
    tables: S.RankingTables
    paths: dict[str, Path]
    seconds: float
    top_features: list[str] = field(default_factory=list)

    @property
    def singles(self) -> pl.DataFrame:
        """``Feature, Score`` best first (the content of feature_singles.tsv)."""
        return self.tables.relevance.select("Feature", "Score")

    @property
    def rows(self) -> int:
        return self.tables.rows


def _check_args(sample: Optional[int], top_k: Optional[int], alpha: float, beta: float,
                batch_rows: int, pair_rows: int) -> None:
    if sample is not None and sample < 1:
        raise ConfigError(f"rank: sample must be a positive row count, got {sample}")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"rank: top_k must be at least 1, got {top_k}")
    if not (math.isfinite(alpha) and math.isfinite(beta)):
        raise ConfigError(f"rank: alpha and beta must be finite numbers, got {alpha}, {beta}")
    if batch_rows < S.MIN_BATCH_ROWS:
        raise ConfigError(f"rank: batch_rows must be at least {S.MIN_BATCH_ROWS}, got {batch_rows}")
    if pair_rows < 1:
        raise ConfigError(f"rank: pair_rows must be positive, got {pair_rows}")


def _missing_vocab_ids(info: DatasetInfo) -> dict[str, int]:
    """Vocabulary id of the empty (missing) raw value per field, where the vocabulary has one."""
    vocab = info.root / "features" / "vocab.parquet"
    rows = (pl.scan_parquet(vocab).filter(pl.col("value").is_null() | (pl.col("value") == ""))
            .select("field", "id").collect())
    return {f: int(i) for f, i in rows.iter_rows()}


def field_specs(info: DatasetInfo) -> list[S.FieldSpec]:
    """Every dense and categorical field with its missing id (vocab: the id of "", hash: the
    hash of "", dense floats: NaN) and OOV id (vocab id 0; none for hashed ids)."""
    vocab = info.encoding == "vocab"
    missing = _missing_vocab_ids(info) if vocab else {}
    specs = []
    for f in info.manifest["features"]:
        name, kind = str(f["name"]), str(f["kind"])
        if kind == "dense":
            specs.append(S.FieldSpec(name, kind, str(f.get("transform", "")), 0, S.MISSING_DENSE, None))
            continue
        miss = missing.get(name) if vocab else hash_string("", name)
        specs.append(S.FieldSpec(name, kind, str(f.get("transform", "")), int(f.get("cardinality", 0)),
                                 miss, OOV_ID if vocab else None))
    if not specs:
        raise DataDirError(f"{info.root}: dataset.json lists no features to rank")
    return specs


def _value_labels(info: DatasetInfo, specs: Sequence[S.FieldSpec],
                  quality: Sequence[S.FieldQuality]) -> dict[str, dict[int, str]]:
    """Readable names of each field's most frequent id: raw vocabulary value, (OOV), (missing)."""
    out: dict[str, dict[int, str]] = {}
    wanted: list[tuple[str, int]] = []
    for spec, q in zip(specs, quality):
        labels = out.setdefault(spec.name, {})
        if spec.missing_id is not None:
            labels[spec.missing_id] = "(missing)"
        if spec.oov_id is not None:
            labels[spec.oov_id] = "(OOV)"
        if q.top_values.size and info.encoding == "vocab" and spec.kind == "categorical":
            wanted.append((spec.name, int(q.top_values[0])))
    if wanted:
        keys = pl.DataFrame(wanted, schema={"field": pl.String, "id": pl.Int64}, orient="row")
        vocab = pl.scan_parquet(info.root / "features" / "vocab.parquet").select("field", "id", "value")
        for f, i, v in keys.lazy().join(vocab, on=["field", "id"], how="inner").collect().iter_rows():
            out[f].setdefault(int(i), "(missing)" if v in (None, "") else str(v))
    return out


def _split_files(info: DatasetInfo, split: str) -> list[Path]:
    splits = info.manifest.get("splits", {})
    if split not in splits:
        raise DataDirError(f"{info.root}: no split '{split}' (has {sorted(splits)})")
    files = info.split_files(split)
    if not files or int(splits.get(split, 0)) == 0:
        raise DataDirError(f"{info.root}: split '{split}' has no rows to rank")
    return files


def default_batch_rows(score: str) -> int:
    """Single-field minibatch of a score mode: outrank's 16384 for ``"outrank"``, else 65536."""
    return S.OUTRANK_BATCH_ROWS if score == "outrank" else S.BATCH_ROWS


def score_split(info: DatasetInfo, split: str, *, sample: Optional[int] = None, alpha: float = 1.0,
                beta: float = 1.0, pairs: bool = True, batch_rows: Optional[int] = None,
                pair_rows: int = S.PAIR_ROWS, score: str = "centred", strategy: str = "median"
                ) -> S.RankingTables:
    """Stream one split in minibatches and build all score tables (nothing written).
    ``batch_rows`` None: :func:`default_batch_rows` of ``score``."""
    if batch_rows is None:
        batch_rows = default_batch_rows(score)
    specs = field_specs(info)
    plan = S.plan_row_groups(_split_files(info, split), sample)
    planned = sum(r for _, _, r in plan)
    total = min(planned, sample) if sample is not None else planned
    index_pairs = S.all_pairs([s.name for s in specs]) if pairs else []
    pair_batch_rows = min(S.OUTRANK_BATCH_ROWS if score == "outrank" else S.PAIR_BATCH_ROWS, batch_rows)
    chunks = S.pair_plan(total, batch_rows, pair_rows, pair_batch_rows)
    columns = [LABEL] + [s.name for s in specs]
    batches = S.rebatch(S._read_tables(plan, columns, sample), batch_rows)
    acc, quality = S.score_stream(batches, specs, chunks, index_pairs, LABEL, pair_batch_rows=pair_batch_rows,
                                  score=score, batch_rows=batch_rows)
    if acc.rows == 0:
        raise DataDirError(f"{info.root}: split '{split}' has no rows to rank")
    return S.build_tables(specs, index_pairs, acc, quality, alpha, beta, _value_labels(info, specs, quality),
                          strategy)


def rank_dataset(data_dir: Path, out: Path, *, split: str = "train", sample: Optional[int] = None,
                 top_k: Optional[int] = None, alpha: float = 1.0, beta: float = 1.0, pairs: bool = True,
                 batch_rows: Optional[int] = None, pair_rows: int = S.PAIR_ROWS,
                 score: str = "centred", strategy: str = "median") -> RankResult:
    """Rank the fields of ``data_dir``'s ``split`` and write the report directory ``out``.

    ``sample``: read at most this many rows (whole row groups spread over the split).
    ``top_k``: also write ``top_features.txt``. ``alpha``/``beta``: 3MR weights of redundancy
    and relations; ``strategy``: how 3MR aggregates them over the selected fields
    (``median``, the reference default, ``mean``, ``sum`` or ``max``). ``pairs=False`` skips
    redundancy, relations and 3MR (the 3MR order is then the relevance order).
    ``batch_rows``: minibatch of the single-field scores (median-aggregated; None: 65536, or
    outrank's 16384 for ``score="outrank"``); ``pair_rows``: rows, in 8192-row (outrank:
    16384-row) minibatches spread over the data, for the F*(F-1)/2 pair scores.
    ``score``: ``"centred"`` (default: field-grouped re-pairing with each side centred by
    its own marginal entropy, several times less noisy), ``"reference"`` (the same
    uncentred, ``H(Y_shifted|X) - H(Y|X)``; always in the Reference column) or
    ``"outrank"`` (outrank 0.97.5's MI-numba-randomized exactly: grouped by the label,
    ``H(F_shifted|L) - H(F|L)``; see :mod:`recsys.ranking.scores`).
    """
    start = time.perf_counter()
    if batch_rows is None:
        batch_rows = default_batch_rows(score)
    _check_args(sample, top_k, alpha, beta, batch_rows, pair_rows)
    if score not in SCORES:
        raise ConfigError(f"rank: score must be one of {SCORES}, got {score!r}")
    if strategy not in S.STRATEGIES:
        raise ConfigError(f"rank: strategy must be one of {S.STRATEGIES}, got {strategy!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"rank: output {out} exists and is not a directory")
    info = open_dataset(data_dir)
    tables = score_split(info, split, sample=sample, alpha=alpha, beta=beta, pairs=pairs,
                         batch_rows=batch_rows, pair_rows=pair_rows, score=score, strategy=strategy)
    tmp = temp_dir_for(out)
    try:
        meta = report.ReportMeta(str(data_dir), split, time.perf_counter() - start, alpha, beta, sample, score)
        written = report.write_report(tmp, tables, meta, top_k)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    paths = {name: out / p.name for name, p in written.items()}
    chosen = report.top_features(tables, top_k) if top_k is not None else []
    return RankResult(out, tables, paths, time.perf_counter() - start, chosen)
