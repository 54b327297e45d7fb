"""The fitted-features artifact: the contract between prepare, training, export and scoring.

Saved as ``features.json`` (format version, dataset config, per-field kind/transform/
cardinality) plus ``vocab.parquet`` (``field, value, id, count``). Its content hash is
recorded in ``dataset.json`` and in exported bundles; loading refuses a mismatch.

Vocabulary ids are stored as int32 in the prepared Parquet (the loader widens them to
int64 for TorchRec); hashed ids are int64. Vocabulary ids: 0 is the field's OOV id (unseen values and values seen fewer than
``min_count`` times in train); 1..n follow count descending, then value ascending, so ids
do not depend on file order or thread count.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from recsys.config import from_dict
from recsys.errors import DataDirError
from recsys.files import write_json_atomic
from recsys.features.counting import FieldCounts
from recsys.features.hashing import hash_strings
from recsys.features.spec import DatasetConfig
from recsys.features.transforms import bucket_dense, identity_dense, log_dense, missing_indicator

ARTIFACT_VERSION = 1
OOV_ID = 0
KEY_SEED = 0x5EED
"""Seed of the in-process Polars hash used as a join/count key for values. It never leaves
the process: the artifact stores the values themselves, and keys are recomputed on load."""


@dataclass(frozen=True)
class FittedField:
    """One model input: ``kind`` categorical (ids) or dense (float); ``cardinality`` is the id count."""

    name: str
    kind: Literal["categorical", "dense"]
    transform: str
    cardinality: int = 0


def categorical_exprs(cfg: DatasetConfig) -> list[pl.Expr]:
    """Over a typed frame: one expression per categorical field, strings and Int64 buckets of
    bucketized dense fields (null = missing). :func:`value_keys` keys both kinds."""
    exprs = [bucket_dense(d) for d in cfg.dense] if cfg.dense_transform == "bucket" else []
    return exprs + [pl.col(c) for c in cfg.categorical_fields if c not in cfg.dense]


def categorical_values(typed: pl.DataFrame, cfg: DatasetConfig) -> pl.DataFrame:
    """Typed frame -> one column per categorical field (:func:`categorical_exprs`)."""
    return typed.select(categorical_exprs(cfg))


def dense_exprs(cfg: DatasetConfig) -> list[pl.Expr]:
    """Over a typed frame: the float32 dense inputs (transformed, plus missing indicators)."""
    if cfg.dense_transform == "bucket":
        return []
    fn = log_dense if cfg.dense_transform == "log" else identity_dense
    exprs = [fn(d) for d in cfg.dense]
    if cfg.missing_indicator:
        exprs += [missing_indicator(d) for d in cfg.dense]
    return exprs


def dense_values(typed: pl.DataFrame, cfg: DatasetConfig) -> pl.DataFrame:
    """Typed frame -> float32 dense inputs (:func:`dense_exprs`)."""
    exprs = dense_exprs(cfg)
    return typed.select(exprs) if exprs else pl.DataFrame()


def value_keys(cats: pl.DataFrame) -> pl.DataFrame:
    """Categorical values -> u64 keys (Polars hash of the column's own type): cheap to count,
    stage and join on."""
    return cats.select(pl.all().hash(KEY_SEED))


def vocab_value(col: pl.Expr) -> pl.Expr:
    """A categorical value as the vocabulary stores it: a string, missing bucket as ""."""
    return col.cast(pl.String).fill_null("")


def count_values(cats: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Per-field ``(key, count, value)`` of a block of categorical values (value as a string)."""
    out = {}
    for name in cats.columns:
        col = pl.col(name)
        out[name] = cats.group_by(col.hash(KEY_SEED).alias("key")).agg(
            pl.len().cast(pl.UInt32).alias("count"), vocab_value(col.first()).alias("value"))
    return out


def build_vocab(counts: dict[str, pl.DataFrame], min_count: int) -> pl.DataFrame:
    """Per-field counts ``(value, count)`` -> vocabulary ``(field, value, id, count)``."""
    frames = []
    for name, c in counts.items():
        kept = c.filter(pl.col("count") >= min_count).sort(["count", "value"], descending=[True, False])
        frames.append(kept.select(pl.lit(name).alias("field"), "value",
                                  pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("id"),
                                  pl.col("count").cast(pl.Int64)))
    schema = {"field": pl.String, "value": pl.String, "id": pl.Int64, "count": pl.Int64}
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def staged_frame(typed: pl.DataFrame, cfg: DatasetConfig, cats: pl.DataFrame | None = None) -> pl.DataFrame:
    """Typed frame -> ``label``, dense float32 and per-field categorical keys.

    Vocabulary encoding stages u64 value keys (resolved to ids once the vocabulary is fitted);
    hash encoding stages the final stable 64-bit ids. ``cats``: precomputed
    :func:`categorical_values` of ``typed``.
    """
    label = [pl.col(cfg.label).cast(pl.Int8).alias("label")] if cfg.label in typed.columns else []
    if cfg.encoding == "vocab" and cats is None:  # one select: a small frame pays Polars' overhead once
        return typed.select(*label, *_vocab_staged_exprs(cfg))
    cats = categorical_values(typed, cfg) if cats is None else cats
    if cfg.encoding == "vocab":
        cats = value_keys(cats)
    else:
        cats = pl.DataFrame({c: hash_strings(cats[c].cast(pl.String).to_arrow(), c) for c in cats.columns})
    parts = [typed.select(label), dense_values(typed, cfg), cats]
    return pl.concat([p for p in parts if p.width], how="horizontal")


@functools.lru_cache(maxsize=64)  # built once per config: a small request pays no expression building
def _vocab_staged_exprs(cfg: DatasetConfig) -> tuple[pl.Expr, ...]:
    return (*dense_exprs(cfg), *(e.hash(KEY_SEED) for e in categorical_exprs(cfg)))


@dataclass
class FittedFeatures:
    """Dataset config + fitted fields + vocabulary; encodes typed raw frames into model inputs."""

    dataset: DatasetConfig
    fields: list[FittedField]
    vocab: pl.DataFrame

    @property
    def categorical(self) -> list[FittedField]:
        return [f for f in self.fields if f.kind == "categorical"]

    @property
    def dense(self) -> list[FittedField]:
        return [f for f in self.fields if f.kind == "dense"]

    @classmethod
    def fit(cls, cfg: DatasetConfig, counts: dict[str, FieldCounts]) -> "FittedFeatures":
        """Build from the train split's value counts (one :class:`FieldCounts` per categorical field)."""
        kept = {name: c.kept for name, c in counts.items()}
        vocab = build_vocab(kept, cfg.min_count) if cfg.encoding == "vocab" else build_vocab({}, 1)
        sizes = dict(vocab.group_by("field").len().iter_rows()) if vocab.height else {}
        fields = [FittedField(d, "dense", cfg.dense_transform if not d.endswith("_missing") else "indicator")
                  for d in cfg.dense_fields]
        for name in cfg.categorical_fields:
            transform = ("bucket+" if name in cfg.dense else "") + cfg.encoding
            card = sizes.get(name, 0) + 1 if cfg.encoding == "vocab" else counts[name].distinct
            fields.append(FittedField(name, "categorical", transform, int(card)))
        return cls(cfg, fields, vocab)

    def encode(self, typed: pl.DataFrame) -> pl.DataFrame:
        """Typed raw frame -> ``label`` (if present), dense float32 and categorical int64 ids."""
        return self.encode_staged(staged_frame(typed, self.dataset))

    def encode_staged(self, staged: pl.DataFrame) -> pl.DataFrame:
        """A :func:`staged_frame` -> model inputs: vocabulary keys become ids (0 = OOV)."""
        if self.dataset.encoding != "vocab":
            return staged
        if staged.height * 64 < self.vocab.height:  # a few rows (a service request): no hash map per call
            return staged.with_columns(pl.Series(f.name, self._lookup(f.name, staged[f.name]), dtype=pl.Int32)
                                       for f in self.categorical)
        ids = []
        for f in self.categorical:
            table = self._table(f.name)  # replace_strict: about 2x a left join here
            ids.append(pl.col(f.name).replace_strict(table[f.name], table["id"], default=OOV_ID, return_dtype=pl.Int32))
        return staged.with_columns(ids)

    def ids(self, staged: pl.DataFrame, names: list[str]) -> np.ndarray:
        """A :func:`staged_frame` -> ``(len(names), N)`` ids of those categorical fields: int32
        vocabulary ids, int64 hashes (scoring: the few rows of a request go straight to arrays, no
        frame round trip). Kept in their own width, half the bytes of int64 for vocabulary ids while
        encoded blocks wait for the model; the model's batch widens them (:meth:`Predictor.score_arrays`)."""
        if self.dataset.encoding == "vocab" and staged.height * 64 < self.vocab.height:
            return np.stack([self._lookup(n, staged[n]) for n in names])
        encoded = self.encode_staged(staged.select(names))
        return np.stack([encoded[n].to_numpy() for n in names])

    def _lookup(self, name: str, keys: pl.Series) -> np.ndarray:
        """Ids of value ``keys`` by binary search in the field's sorted keys (OOV_ID if absent):
        ``replace_strict`` builds a hash map of the whole vocabulary on every call, which costs
        milliseconds when a request has one row."""
        cache = self.__dict__.setdefault("_sorted", {})
        if name not in cache:
            table = self._table(name).sort(name)
            cache[name] = (table[name].to_numpy(), table["id"].to_numpy())
        sorted_keys, ids = cache[name]
        k = keys.to_numpy()
        if not len(sorted_keys):
            return np.full(len(k), OOV_ID, np.int32)
        pos = np.minimum(np.searchsorted(sorted_keys, k), len(sorted_keys) - 1)
        return np.where(sorted_keys[pos] == k, ids[pos], OOV_ID).astype(np.int32)

    def _table(self, name: str) -> pl.DataFrame:
        cache = self.__dict__.setdefault("_tables", {})
        if name not in cache:
            v = self.vocab.filter(pl.col("field") == name)
            value = pl.col("value")
            if name in self.dataset.dense:  # a bucketized dense field: keyed by its Int64 bucket
                value = value.replace("", None).cast(pl.Int64)
            cache[name] = v.select(value.hash(KEY_SEED).alias(name), pl.col("id").cast(pl.Int32))
        return cache[name]

    def to_json(self) -> dict[str, Any]:
        return {"version": ARTIFACT_VERSION, "dataset": _config_dict(self.dataset),
                "fields": [dataclasses.asdict(f) for f in self.fields]}

    def save(self, directory: str | Path) -> str:
        """Write ``features.json`` and ``vocab.parquet``; return the content hash."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.vocab.write_parquet(d / "vocab.parquet", compression="zstd", statistics=False)
        body = self.to_json()
        body["hash"] = content_hash(body, d / "vocab.parquet")
        write_json_atomic(d / "features.json", body)
        return str(body["hash"])

    @classmethod
    def load(cls, directory: str | Path) -> "FittedFeatures":
        d = Path(directory)
        try:
            body = json.loads((d / "features.json").read_text())
            vocab = pl.read_parquet(d / "vocab.parquet")
        except (OSError, ValueError) as exc:
            raise DataDirError(f"{d}: features artifact missing or unreadable ({exc})") from exc
        if body.get("version") != ARTIFACT_VERSION:
            raise DataDirError(f"{d}: features artifact version {body.get('version')}, expected {ARTIFACT_VERSION}")
        if body.get("hash") != content_hash(body, d / "vocab.parquet"):
            raise DataDirError(f"{d}: features artifact hash mismatch (files changed after prepare)")
        cfg = from_dict(DatasetConfig, body["dataset"], where=str(d / "features.json"))
        fields = [FittedField(**f) for f in body["fields"]]
        return cls(cfg, fields, vocab)


def _config_dict(cfg: DatasetConfig) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    d["split"] = dataclasses.asdict(cfg.split)
    return d


def content_hash(body: dict[str, Any], vocab_path: Path) -> str:
    """SHA-256 of the JSON body (without its hash) and the vocabulary file bytes."""
    h = hashlib.sha256(json.dumps({k: v for k, v in body.items() if k != "hash"}, sort_keys=True).encode())
    h.update(vocab_path.read_bytes())
    return h.hexdigest()


def features_hash(directory: str | Path) -> str:
    """The recorded hash of a saved artifact (without loading the vocabulary)."""
    return str(json.loads((Path(directory) / "features.json").read_text())["hash"])


__all__ = ["FittedFeatures", "FittedField", "OOV_ID", "build_vocab", "count_values", "staged_frame"]
