"""What the model sees of a prepared dataset: fields, cardinalities, dense inputs, encoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import nn

from recsys.embeddings.module import FieldEmbedding
from recsys.embeddings.strategies import EmbeddingConfig, plan_tables
from recsys.errors import ConfigError


@dataclass(frozen=True)
class FeatureSchema:
    """Model-facing schema: ``categorical`` fields (KJT keys, in order), their id counts,
    ``dense`` float inputs and the DATA_DIR encoding (``vocab`` or ``hash``)."""

    categorical: tuple[str, ...]
    cardinalities: tuple[int, ...]
    dense: tuple[str, ...]
    encoding: str
    bucketized: tuple[str, ...] = ()
    """Categorical fields that are bucketized dense values (Criteo's ``I1..I13`` by default)."""

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], keep: Optional[Sequence[str]] = None) -> "FeatureSchema":
        """The schema of a dataset manifest, optionally restricted to the fields in ``keep``."""
        feats = manifest["features"]
        if keep is not None:
            unknown = sorted(set(keep) - {f["name"] for f in feats})
            if unknown:
                raise ConfigError(f"--features names fields this dataset does not have: {', '.join(unknown)}")
            feats = [f for f in feats if f["name"] in set(keep)]
        cats = [f for f in feats if f["kind"] == "categorical"]
        return cls(tuple(f["name"] for f in cats), tuple(max(int(f["cardinality"]), 1) for f in cats),
                   tuple(f["name"] for f in feats if f["kind"] == "dense"), str(manifest["encoding"]),
                   tuple(f["name"] for f in cats if str(f.get("transform", "")).startswith("bucket")))

    @property
    def cards(self) -> dict[str, int]:
        return dict(zip(self.categorical, self.cardinalities))


def field_embedding(schema: FeatureSchema, cfg: EmbeddingConfig, dim: Optional[int] = None,
                    prefix: str = "", device: Optional[torch.device] = None) -> FieldEmbedding:
    """A :class:`FieldEmbedding` of ``schema``'s fields under strategy ``cfg`` (width ``dim``)."""
    return FieldEmbedding(plan_tables(schema.cards, cfg, schema.encoding, dim, prefix), device)


class DenseEmbedding(nn.Module):
    """Dense values as field embeddings: ``(B, Nd) -> (B, Nd, D)``, ``x_i * v_i`` (AutoInt)."""

    def __init__(self, num_dense: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_dense, dim).uniform_(-0.05, 0.05))

    def forward(self, dense: torch.Tensor) -> torch.Tensor:
        return dense.unsqueeze(-1) * self.weight
