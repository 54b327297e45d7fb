"""What the model sees of a prepared dataset or a bundle: fields, cardinalities, dense inputs,
encoding. Torch-free, so that scoring can read a bundle's fields and encode its first blocks
while torch is still being imported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

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
