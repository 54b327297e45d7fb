"""Synthetic Criteo/Avazu logs in the exact raw formats, with planted structure.

The click probability is ``sigmoid(bias + sum_f w_f(v_f) + cross + dense)``:

* informative categorical fields carry a per-value weight ``w_f(v) ~ N(0, s_f^2)``;
* one or two **cross pairs** carry ``c * z_a(v_a) * z_b(v_b)`` with ``z`` centred under the
  value distribution, so each field alone has no effect in expectation: a memorized cross
  feature captures it and per-field weights cannot;
* a **redundant** field is a near-copy (relabelled 95% of the time) of an informative one
  and carries no weight of its own;
* informative dense fields add ``beta * standardized(log1p(x))``; the rest are noise.

Values follow heavy-tailed (log-uniform, Zipf s=1) rank distributions with cardinalities
shaped like the real datasets. Generation streams in chunks; the same seed gives the same
bytes. ``FILE.truth.json`` names the roles and gives ``oracle_auc``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import polars as pl
import pyarrow as pa

from recsys.errors import ConfigError
from recsys.features.hashing import fnv1a64_bytes, splitmix64_numpy
from recsys.stats import roc_auc
from recsys.files import write_json_atomic

Role = Literal["informative", "noise", "cross", "redundant", "label", "id", "time"]
CHUNK_ROWS = 200_000
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class FieldPlan:
    """One raw column of the synthetic file.

    ``kind``: ``hex`` (8-hex strings), ``int`` (integer category codes), ``dense`` (counts).
    ``scale``: weight std for informative fields, coefficient for dense, cross strength.
    """

    name: str
    kind: Literal["hex", "int", "dense"]
    cardinality: int = 0
    role: Role = "noise"
    scale: float = 0.0
    missing: float = 0.0
    copy_of: Optional[str] = None
    int_base: int = 0


def _criteo_plan() -> list[FieldPlan]:
    cards = [1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
             27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572]
    informative = {"C1": 0.5, "C2": 0.5, "C5": 0.6, "C6": 0.6, "C8": 0.4, "C10": 0.5,
                   "C11": 0.4, "C13": 0.5, "C15": 0.4, "C19": 0.4, "C25": 0.5}
    cross = {"C14": 1.6, "C17": 1.6, "C22": 1.2, "C23": 1.2}
    missing = {f"C{i}": 0.44 for i in range(19, 27)} | {"C12": 0.03, "C3": 0.03}
    plan = []
    for i, card in enumerate(cards, start=1):
        name = f"C{i}"
        if name == "C26":
            plan.append(FieldPlan(name, "hex", 3194, "redundant", copy_of="C13"))
        elif name in informative:
            plan.append(FieldPlan(name, "hex", card, "informative", informative[name], missing.get(name, 0.0)))
        elif name in cross:
            plan.append(FieldPlan(name, "hex", card, "cross", cross[name]))
        else:
            plan.append(FieldPlan(name, "hex", card, "noise", 0.0, missing.get(name, 0.0)))
    dense_missing = [0.45, 0.0, 0.21, 0.22, 0.03, 0.22, 0.04, 0.0, 0.04, 0.45, 0.04, 0.77, 0.22]
    dense_beta = {1: 0.35, 3: -0.3, 5: 0.25, 7: 0.3, 11: 0.25}
    dense = [FieldPlan(f"I{i}", "dense", 0, "informative" if i in dense_beta else "noise",
                       dense_beta.get(i, 0.0), dense_missing[i - 1]) for i in range(1, 14)]
    return [FieldPlan("label", "int", role="label")] + dense + plan


def _avazu_plan() -> list[FieldPlan]:
    spec = [  # name, kind, card, role, scale, int_base
        ("C1", "int", 7, "noise", 0.0, 1001), ("banner_pos", "int", 7, "informative", 0.4, 0),
        ("site_id", "hex", 4737, "informative", 0.6, 0), ("site_domain", "hex", 7745, "noise", 0.0, 0),
        ("site_category", "hex", 26, "cross", 1.4, 0), ("app_id", "hex", 8552, "informative", 0.6, 0),
        ("app_domain", "hex", 559, "noise", 0.0, 0), ("app_category", "hex", 36, "cross", 1.4, 0),
        ("device_id", "hex", 2686408, "noise", 0.0, 0), ("device_ip", "hex", 6729486, "noise", 0.0, 0),
        ("device_model", "hex", 8251, "informative", 0.4, 0), ("device_type", "int", 5, "noise", 0.0, 0),
        ("device_conn_type", "int", 4, "informative", 0.3, 0), ("C14", "int", 2626, "informative", 0.5, 15000),
        ("C15", "int", 8, "noise", 0.0, 216), ("C16", "int", 9, "noise", 0.0, 36),
        ("C17", "int", 435, "redundant", 0.0, 1000), ("C18", "int", 4, "informative", 0.3, 0),
        ("C19", "int", 68, "noise", 0.0, 33), ("C20", "int", 172, "informative", 0.3, 100000),
        ("C21", "int", 60, "noise", 0.0, 1),
    ]
    plan = [FieldPlan("id", "int", role="id"), FieldPlan("click", "int", role="label"),
            FieldPlan("hour", "int", role="time", scale=0.5)]
    for name, kind, card, role, scale, base in spec:
        copy = "C14" if role == "redundant" else None
        plan.append(FieldPlan(name, kind, card, role, scale, 0.0, copy, base))  # type: ignore[arg-type]
    return plan


PLANS = {"criteo": _criteo_plan, "avazu": _avazu_plan}


def _salt(name: str, what: str) -> np.uint64:
    return np.uint64(fnv1a64_bytes(f"{name}/{what}".encode()))


def _uniform(keys: np.ndarray, salt: np.uint64) -> np.ndarray:
    """Deterministic U(0,1) per key: 53 hash bits."""
    h = splitmix64_numpy(keys.astype(np.uint64) ^ salt)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _gauss(keys: np.ndarray, salt: np.uint64) -> np.ndarray:
    """Deterministic N(0,1) per key (Box-Muller on two hashed uniforms)."""
    u1 = np.maximum(_uniform(keys, salt), 1e-12)
    u2 = _uniform(keys, salt ^ np.uint64(0x5BD1E995))
    return np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)


def _ranks(rng: np.random.Generator, card: int, n: int) -> np.ndarray:
    """Log-uniform ranks in [0, card): P(r) = ln((r+2)/(r+1)) / ln(card+1) (Zipf, s=1)."""
    r = np.floor(np.exp(rng.random(n) * math.log(card + 1))).astype(np.int64) - 1
    return np.clip(r, 0, card - 1)


def _rank_probs(card: int) -> np.ndarray:
    r = np.arange(card, dtype=np.float64)
    return np.log((r + 2) / (r + 1)) / math.log(card + 1)


def _centred_cross(f: FieldPlan) -> np.ndarray:
    """Cross factor z(v) per rank, centred under the rank distribution (zero marginal)."""
    z = _gauss(np.arange(f.cardinality), _salt(f.name, "cross"))
    return z - float(np.dot(_rank_probs(f.cardinality), z))


def _hex_strings(codes: np.ndarray) -> pa.Array:
    """uint32 codes -> 8-char lowercase hex strings (vectorized)."""
    shifts = np.arange(28, -1, -4, dtype=np.uint64)
    nibbles = (codes.astype(np.uint64)[:, None] >> shifts) & np.uint64(15)
    chars = np.ascontiguousarray(_HEX[nibbles.astype(np.intp)])
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(8), len(codes), [None, pa.py_buffer(chars.tobytes())])
    return fixed.cast(pa.binary()).cast(pa.string())


class SyntheticLog:
    """Generates one synthetic raw file chunk by chunk; see the module docstring."""

    def __init__(self, fmt: str, rows: int, seed: int) -> None:
        if fmt not in PLANS:
            raise ConfigError(f"synth: unknown format {fmt!r}; expected criteo or avazu")
        if rows < 1:
            raise ConfigError("synth: --rows must be at least 1")
        self.fmt, self.rows, self.seed = fmt, rows, seed
        self.plan = PLANS[fmt]()
        self.by_name = {f.name: f for f in self.plan}
        self.cross = {f.name: _centred_cross(f) for f in self.plan if f.role == "cross"}
        self.bias = 0.0
        self.bias = self._calibrate_bias(target_ctr=0.22 if fmt == "criteo" else 0.17)

    def chunk(self, index: int, n: int, start_row: int) -> tuple[pl.DataFrame, np.ndarray]:
        """Rows ``[start_row, start_row + n)``: the raw columns and the true probabilities."""
        rng = np.random.default_rng([self.seed, index])
        ranks = {f.name: _ranks(rng, f.cardinality, n) for f in self.plan if f.cardinality and not f.copy_of}
        for f in self.plan:
            if f.copy_of:
                keep = rng.random(n) < 0.95
                ranks[f.name] = np.where(keep, ranks[f.copy_of] % f.cardinality, _ranks(rng, f.cardinality, n))
        dense = {f.name: self._dense_values(rng, f, n) for f in self.plan if f.kind == "dense"}
        rows = np.arange(start_row, start_row + n, dtype=np.int64)
        logit = self._logit(ranks, dense, rows)
        p = 1.0 / (1.0 + np.exp(-logit))
        label = (rng.random(n) < p).astype(np.int64)
        cols = {f.name: self._column(f, ranks, dense, label, rows, rng) for f in self.plan}
        return pl.DataFrame(cols), p

    def _dense_values(self, rng: np.random.Generator, f: FieldPlan, n: int) -> np.ndarray:
        mu = 1.0 + 2.5 * _uniform(np.array([0]), _salt(f.name, "mu"))[0]
        x = np.floor(np.exp(rng.normal(mu, 1.2, n))) - 1
        return np.maximum(x, 0)

    def _logit(self, ranks: dict[str, np.ndarray], dense: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
        out = np.full(len(rows), self.bias)
        crosses = [f for f in self.plan if f.role == "cross"]
        for f in self.plan:
            if f.role == "informative" and f.kind != "dense":
                out += f.scale * _gauss(ranks[f.name], _salt(f.name, "w"))
            elif f.role == "informative":
                mu = 1.0 + 2.5 * _uniform(np.array([0]), _salt(f.name, "mu"))[0]
                out += f.scale * (np.log1p(dense[f.name]) - mu) / 1.2
            elif f.role == "time":
                out += f.scale * np.sin(2 * np.pi * self._hours(rows) / 24.0)
        for a, b in zip(crosses[::2], crosses[1::2]):
            out += a.scale * self.cross[a.name][ranks[a.name]] * self.cross[b.name][ranks[b.name]]
        return out

    def _hours(self, rows: np.ndarray) -> np.ndarray:
        """Hour index 0..239 over ten days, in file order."""
        return (rows * 240) // max(self.rows, 1)

    def _column(self, f: FieldPlan, ranks: dict, dense: dict, label: np.ndarray,
                rows: np.ndarray, rng: np.random.Generator) -> pl.Series:
        n = len(rows)
        if f.role == "label":
            return pl.Series(f.name, label)
        if f.role == "id":
            ids = splitmix64_numpy(rows.astype(np.uint64) ^ np.uint64(self.seed)) >> np.uint64(1)
            return pl.Series(f.name, ids.astype(np.uint64)).cast(pl.String)
        if f.role == "time":
            h = self._hours(rows)
            day, hour = 21 + h // 24, h % 24
            return pl.Series(f.name, 14100000 + day * 100 + hour).cast(pl.String)
        mask = rng.random(n) < f.missing if f.missing else None
        if f.kind == "dense":
            s = pl.Series(f.name, dense[f.name].astype(np.int64))
        elif f.kind == "int":
            s = pl.Series(f.name, ranks[f.name] + f.int_base)
        else:
            codes = splitmix64_numpy(ranks[f.name].astype(np.uint64) ^ _salt(f.name, "hex")) & np.uint64(0xFFFFFFFF)
            s = pl.Series(f.name, _hex_strings(codes))
        s = s.cast(pl.String)
        return s if mask is None else s.set(pl.Series(mask), None)  # type: ignore[arg-type]

    def _calibrate_bias(self, target_ctr: float) -> float:
        """Bisect the bias so the mean click probability of a fixed pilot sample hits the target."""
        lo, hi = -8.0, 4.0
        rng = np.random.default_rng([self.seed, 10**9])
        n = 20000
        ranks = {f.name: _ranks(rng, f.cardinality, n) for f in self.plan if f.cardinality and not f.copy_of}
        dense = {f.name: self._dense_values(rng, f, n) for f in self.plan if f.kind == "dense"}
        base = self._logit(ranks, dense, rng.integers(0, self.rows, n))
        for _ in range(50):
            mid = (lo + hi) / 2
            ctr = float(np.mean(1 / (1 + np.exp(-(base + mid)))))
            lo, hi = (mid, hi) if ctr < target_ctr else (lo, mid)
        return (lo + hi) / 2

    def truth(self, oracle_auc: float, ctr: float) -> dict:
        roles = {r: [f.name for f in self.plan if f.role == r] for r in ("informative", "noise")}
        crosses = [f.name for f in self.plan if f.role == "cross"]
        informative = roles["informative"] + crosses
        if self.fmt == "avazu":
            informative.append("hour_of_day")
        return {
            "format": self.fmt, "rows": self.rows, "seed": self.seed,
            "informative": informative,
            "noise": roles["noise"],
            "interactions": [[a, b] for a, b in zip(crosses[::2], crosses[1::2])],
            "redundant": [[f.copy_of, f.name] for f in self.plan if f.copy_of],
            "oracle_auc": oracle_auc,
            "ctr": ctr,
            "weights": {f.name: f.scale for f in self.plan if f.scale},
        }


def write_synthetic(fmt: str, rows: int, out: str | Path, seed: int = 0) -> dict:
    """Stream a synthetic file to ``out`` (temporary name, renamed when complete).

    Returns the truth dictionary, also written to ``out + ".truth.json"``.
    """
    gen = SyntheticLog(fmt, rows, seed)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    probs, labels = [], []
    with open(tmp, "wb") as fh:
        if fmt == "avazu":
            fh.write((",".join(f.name for f in gen.plan) + "\n").encode())
        for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
            n = min(CHUNK_ROWS, rows - start)
            df, p = gen.chunk(index, n, start)
            sep = "\t" if fmt == "criteo" else ","
            df.write_csv(fh, separator=sep, include_header=False, quote_style="never", null_value="")
            probs.append(p.astype(np.float32))
            labels.append(df[gen.plan[1 if fmt == "avazu" else 0].name].cast(pl.Int8).to_numpy())
    p_all, y_all = np.concatenate(probs), np.concatenate(labels)
    truth = gen.truth(roc_auc(p_all, y_all), float(y_all.mean()))
    os.replace(tmp, out)
    write_json_atomic(Path(str(out) + ".truth.json"), truth, indent=2)  # last: marks the file complete
    return truth
