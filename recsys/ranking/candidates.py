"""Field pairs from a ``recsys rank`` report, best first: OptInter's ``--candidates`` (OutRank-seeded search).

``relations.tsv`` (``FeatureA, FeatureB, Score, Synergy``) is ranked by ``Synergy``, the part
of a pair's relevance that neither field carries alone, which is what a cross can add;
``pairwise_ranks.tsv`` by the ``Score`` of its ``A AND_REL B`` rows.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys.errors import ConfigError
from recsys.ranking.report import AND_REL


def top_pairs(path: Path, k: int) -> list[tuple[str, str]]:
    """The ``k`` best field pairs of report file ``path``."""
    try:
        frame = pl.read_csv(path, separator="\t")
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"--candidates {path}: cannot read a rank report TSV ({exc})".splitlines()[0]) from exc
    if {"FeatureA", "FeatureB", "Synergy"} <= set(frame.columns):
        frame = frame.sort("Synergy", descending=True, nulls_last=True)
        pairs = list(zip(frame["FeatureA"].to_list(), frame["FeatureB"].to_list()))
    elif {"FeatureA", "FeatureB", "Score"} <= set(frame.columns):
        rel = frame.filter(pl.col("FeatureA").str.contains(AND_REL, literal=True)).sort("Score", descending=True)
        pairs = [tuple(a.split(AND_REL)) for a in rel["FeatureA"].to_list()]  # type: ignore[misc]
    else:
        raise ConfigError(f"--candidates {path}: expected relations.tsv or pairwise_ranks.tsv of recsys rank")
    if not pairs:
        raise ConfigError(f"--candidates {path}: the report holds no field pairs")
    return [(str(a), str(b)) for a, b in pairs[:k]]
