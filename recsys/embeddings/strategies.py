"""Embedding strategies: how categorical fields map to TorchRec tables and rows.

* ``vocab``: one table per field, ``cardinality`` rows (collision-free on vocab ids).
* ``hashed``: one table per field; a total row budget is split across fields in
  proportion to cardinality (capped at it); ``bucket(id, salt(field))`` picks the row.
* ``unified`` (Coleman et al., NeurIPS 2023, feature multiplexing): one shared table (or
  ``num_tables`` sub-tables, chunks dealt round-robin) serves every field. Field ``f`` uses
  ``k`` chunks; chunk ``j`` looks up ``bucket(id, salt(f, j))`` and the field embedding is
  the concatenation of its ``k`` chunk vectors (width ``k * chunk_dim = D``).

A strategy is a :class:`TablePlan`: TorchRec table configs (each listing its lookup keys),
and for every lookup key its source field, salt and row count. The same plan drives the
id remapping inside the model, so training, export and serving hash identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Optional

from torchrec.modules.embedding_configs import EmbeddingBagConfig, PoolingType

from recsys.config import from_dict
from recsys.embeddings.budget import budget_rows
from recsys.errors import ConfigError
from recsys.features.hashing import salt

Strategy = Literal["vocab", "hashed", "unified"]


@dataclass(frozen=True)
class EmbeddingConfig:
    """Embedding choices shared by every model.

    ``embedding_budget``: total size for ``hashed``/``unified`` (``2.5MB``, ``1e6rows``); defaults to
    the collision-free size. ``chunks``: chunks per field for ``unified`` (``D % chunks == 0``).
    """

    embedding: Strategy = "vocab"
    embedding_dim: int = 16
    embedding_budget: Optional[str] = None
    chunks: int = 1
    num_tables: int = 1

    def __post_init__(self) -> None:
        if self.embedding_dim < 1:
            raise ConfigError("embedding_dim must be positive")
        if self.embedding_dim % self.chunks:
            raise ConfigError(f"embedding_dim {self.embedding_dim} is not divisible by chunks {self.chunks}")

    @classmethod
    def from_json(cls, saved: Mapping[str, Any]) -> "EmbeddingConfig":
        """The ``embedding`` section of a run's ``config.json`` or a bundle's ``manifest.json``,
        also as written before 2026-12-02 (keys ``strategy`` / ``budget``: :data:`LEGACY_KEYS`)."""
        return from_dict(cls, {LEGACY_KEYS.get(k, k): v for k, v in saved.items()}, "embedding")


LEGACY_KEYS = {"strategy": "embedding", "budget": "embedding_budget"}
"""Old names of :class:`EmbeddingConfig` fields, in runs and bundles written before 2026-12-02."""


@dataclass(frozen=True)
class LookupKey:
    """One KJT key fed to a table: ``field`` ids remapped with ``salt`` into ``rows`` (or direct)."""

    key: str
    field: str
    table: str
    rows: int
    salt: int
    direct: bool


@dataclass(frozen=True)
class TablePlan:
    """Tables, lookup keys (in the order the model concatenates them) and chunk geometry."""

    tables: tuple[EmbeddingBagConfig, ...]
    keys: tuple[LookupKey, ...]
    fields: tuple[str, ...]
    chunk_dim: int
    chunks: int
    prefix: str = ""
    """Table-name prefix: ``""`` for a model's main field embedding, ``lr_``/``gen_`` for others."""

    @property
    def rows(self) -> int:
        return sum(t.num_embeddings for t in self.tables)

    def num_bytes(self, bytes_per_value: int = 4) -> int:
        return sum(t.num_embeddings * t.embedding_dim for t in self.tables) * bytes_per_value


INIT_RANGE = 0.01
"""Tables start at U(-0.01, 0.01) whatever their size (TorchRec's default, +-sqrt(1/rows), gives a
2-row table +-0.7 and blows up FM-style pairwise sums over many fields)."""


def _table(name: str, rows: int, dim: int, keys: list[str]) -> EmbeddingBagConfig:
    return EmbeddingBagConfig(name=name, embedding_dim=dim, num_embeddings=max(int(rows), 1),
                              feature_names=keys, pooling=PoolingType.SUM,
                              weight_init_min=-INIT_RANGE, weight_init_max=INIT_RANGE)


def vocab_plan(cards: dict[str, int], dim: int, prefix: str = "") -> TablePlan:
    tables = [_table(f"{prefix}t_{f}", c, dim, [f]) for f, c in cards.items()]
    keys = [LookupKey(f, f, f"{prefix}t_{f}", c, 0, True) for f, c in cards.items()]
    return TablePlan(tuple(tables), tuple(keys), tuple(cards), dim, 1, prefix)


def split_budget(cards: dict[str, int], total: int) -> dict[str, int]:
    """Rows per field: proportional to cardinality, capped at it; sums to <= total (or one row each).

    Each field first gets ``min(cardinality, total / (4 F))`` rows, so that a small field is not
    squeezed into a handful of rows by a few huge ones; the rest is split by cardinality.
    """
    floor = max(1, total // (4 * max(len(cards), 1)))
    rows = {f: max(1, min(c, floor)) for f, c in cards.items()}
    left = total - sum(rows.values())
    open_fields = {f: c for f, c in cards.items() if rows[f] < c}
    while left > 0 and open_fields:
        weight = sum(open_fields.values())
        grant = {f: min(cards[f] - rows[f], int(left * c / weight)) for f, c in open_fields.items()}
        if not any(grant.values()):
            break
        for f, g in grant.items():
            rows[f] += g
        left -= sum(grant.values())
        open_fields = {f: c for f, c in open_fields.items() if rows[f] < cards[f]}
    return rows


def hashed_plan(cards: dict[str, int], dim: int, budget: Optional[str], direct_ok: bool, prefix: str = "") -> TablePlan:
    total = budget_rows(budget, dim) if budget else sum(cards.values())
    rows = split_budget(cards, total)
    tables = [_table(f"{prefix}h_{f}", rows[f], dim, [f]) for f in cards]
    keys = [LookupKey(f, f, f"{prefix}h_{f}", rows[f], salt(f), direct_ok and rows[f] >= cards[f]) for f in cards]
    return TablePlan(tuple(tables), tuple(keys), tuple(cards), dim, 1, prefix)


def unified_plan(cards: dict[str, int], cfg: EmbeddingConfig, prefix: str = "") -> TablePlan:
    chunk_dim = cfg.embedding_dim // cfg.chunks
    total = budget_rows(cfg.embedding_budget, chunk_dim) if cfg.embedding_budget else sum(cards.values()) * cfg.chunks
    per_table = max(total // cfg.num_tables, 1)
    names = [f"{prefix}unified_{t}" for t in range(cfg.num_tables)]
    keys, members = [], {n: [] for n in names}  # type: ignore[var-annotated]
    for i, (f, j) in enumerate((f, j) for f in cards for j in range(cfg.chunks)):
        table = names[i % cfg.num_tables]
        keys.append(LookupKey(f"{f}@{j}", f, table, per_table, salt(f, j), False))
        members[table].append(f"{f}@{j}")
    tables = [_table(n, per_table, chunk_dim, members[n]) for n in names]
    return TablePlan(tuple(tables), tuple(keys), tuple(cards), chunk_dim, cfg.chunks, prefix)


def plan_tables(cards: dict[str, int], cfg: EmbeddingConfig, encoding: str, dim: Optional[int] = None,
                prefix: str = "") -> TablePlan:
    """The table plan of ``cfg.embedding`` for fields with cardinalities ``cards``.

    ``dim`` overrides the width (first-order weight tables use a small width).
    """
    width = dim or cfg.embedding_dim
    if cfg.embedding == "vocab":
        if encoding != "vocab":
            raise ConfigError("--embedding vocab needs a vocabulary-encoded DATA_DIR; use hashed or unified "
                              "for hash-encoded data")
        return vocab_plan(cards, width, prefix)
    if cfg.embedding == "hashed":
        return hashed_plan(cards, width, cfg.embedding_budget, encoding == "vocab", prefix)
    if dim is not None and dim != cfg.embedding_dim:
        sub = EmbeddingConfig("unified", dim, _scaled_budget(cfg, dim), 1, cfg.num_tables)
        return unified_plan(cards, sub, prefix)
    return unified_plan(cards, cfg, prefix)


def _scaled_budget(cfg: EmbeddingConfig, dim: int) -> Optional[str]:
    """Keep the row count of the main tables for auxiliary (narrow) unified tables."""
    if not cfg.embedding_budget:
        return None
    return f"{budget_rows(cfg.embedding_budget, cfg.embedding_dim // cfg.chunks)}rows"
