"""Per-minibatch estimators behind the ranking (after OutRank, Škrlj and Mramor, RecSys 2023).

Every function scores one minibatch of rows; :mod:`recsys.ranking.scores` streams minibatches
and aggregates by the median. All counting is vectorized (``np.bincount`` / ``np.unique`` on
packed integer keys); no Python loop runs over rows.

Scores, in nats:

* **relevance** of field ``X`` to the label ``Y``. Three modes (``score=``):

  - ``"outrank"`` (:func:`outrank_randomized`): exactly outrank 0.97.5's
    ``MI-numba-randomized`` feature-label score. outrank calls
    ``mutual_info_estimator_numba(Y=feature, X=label)``, so it groups the rows by the
    *label* and measures the *field*: ``H(F_shifted | L) - H(F | L)``, where a row of label
    class ``l`` (``n_l`` rows in the batch) takes the field value of row ``(i + n_l) mod n``.
    Per-class terms are rounded to float32 as outrank's numba kernel returns them; scored
    on outrank's 16384-row minibatches, median over minibatches (as ``get_grouped_df``).
    Reproduces outrank's ``pairwise_ranks.tsv`` scores bit for bit on the same rows (its
    ``feature_singles.tsv`` is a min-max rescaling of them, the label row included).
  - ``"reference"`` (:meth:`Terms.reference`): the transposed form, grouping by the field
    and measuring the label, ``H(Y_shifted | X) - H(Y | X)``; ``Y_shifted`` re-pairs each
    row ``i`` whose ``X`` value occurs ``c`` times in the batch with the label of row
    ``(i - c) mod n``. Values seen once in a batch are skipped. Not what outrank computes
    (it ranks mid-cardinality fields differently: Spearman ~0.7 against outrank).
  - ``"centred"`` (default, :meth:`Terms.centred`): the transposed form with each side
    centred by its own marginal entropy, ``[H(Y) - H(Y|X)] - [H(Y_shifted) - H(Y_shifted|X)]``:
    ``Y_shifted`` reuses some rows and drops others, so its positive rate drifts and the
    uncentred form carries that drift at first order (~0.005 nats per 8192 rows at CTR 0.2).
    The transposed reference form is always computed too (the ``Reference`` column).
* **plain MI** ``H(Y) - H(Y | X)`` (the reference's ``MI-numba``), inflated by cardinality.
* **redundancy** of fields ``A`` (earlier column) and ``B``: the reference's randomized score
  with ``A`` as the target and ``B`` as the grouping (one direction, as the reference; with
  ``score="outrank"`` outrank's ``+count`` shift and float32 terms), plus
  ``ratio = score / H(A_shifted | B)``, the share of ``A``'s background uncertainty that
  ``B`` removes (about 1 for a copy).
* **relations** of ``A`` and ``B``: the relevance of the combined field ``(A, B)`` (a
  collision-free packed id within the batch), and its synergy over ``A`` and ``B`` alone.
* (aggregated in :mod:`recsys.ranking.scores`) **3MR** greedy ranking: argmax of ``relevance - alpha * median(redundancy with selected)
  + beta * median(relation with selected)`` on min-max normalized scores.
* **quality** per field: cardinality (HyperLogLog), coverage, OOV share, top values, flags.
  Dense float columns are discretized into quantile bins fitted on the first minibatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

# ---------------------------------------------------------------------------------------
# Counting primitives on one minibatch
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grouping:
    """Rows of one batch grouped by a value: ``codes`` (n,) int64 in [0, k), ``counts`` (k,).

    ``counts`` may hold zeros (codes of a packed key space that no row uses).
    """

    codes: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        return int(self.codes.shape[0])

    @property
    def k(self) -> int:
        return int(self.counts.shape[0])

    def row_counts(self) -> np.ndarray:
        """(n,) size of each row's group."""
        return self.counts[self.codes]


def _dense_space(space: int, n: int) -> bool:
    """Whether a key space is small enough to count with ``np.bincount`` instead of sorting."""
    return space <= 4 * n + 1024


def factorize(values: np.ndarray) -> tuple[Grouping, np.ndarray]:
    """(n,) integers -> compact Grouping (codes ordered by value) and its (k,) distinct values."""
    v = np.asarray(values)
    if v.size and v.dtype.kind in "iu":
        lo, hi = int(v.min()), int(v.max())
        if _dense_space(hi - lo + 1, v.size):
            off = (v - lo).astype(np.int64)
            full = np.bincount(off, minlength=hi - lo + 1)
            present = np.flatnonzero(full)
            remap = np.zeros(full.shape[0], np.int64)
            remap[present] = np.arange(present.shape[0])
            return Grouping(remap[off], full[present].astype(np.int64)), (present + lo).astype(v.dtype)
    uniq, inv, cnt = np.unique(v, return_inverse=True, return_counts=True)
    return Grouping(inv.reshape(-1).astype(np.int64), cnt.astype(np.int64)), uniq


def joint_grouping(x: Grouping, t: Grouping) -> tuple[Grouping, np.ndarray]:
    """Group rows by the pair (x, t): the joint Grouping and, per joint code, its x code."""
    key = x.codes * t.k + t.codes
    space = x.k * t.k
    if _dense_space(space, x.n):
        full = np.bincount(key, minlength=space)
        present = np.flatnonzero(full)
        remap = np.zeros(space, np.int64)
        remap[present] = np.arange(present.shape[0])
        return Grouping(remap[key], full[present].astype(np.int64)), present // t.k
    uniq, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    return Grouping(inv.reshape(-1).astype(np.int64), cnt.astype(np.int64)), uniq // t.k


def _joint_counts(x: Grouping, t_codes: np.ndarray, kt: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-empty (x, t) cells: their x codes (m,) and counts (m,)."""
    key = x.codes * kt + t_codes
    space = x.k * kt
    if _dense_space(space, x.n):
        joint = np.bincount(key, minlength=space)
        nz = np.flatnonzero(joint)
        return nz // kt, joint[nz]
    uniq, cnt = np.unique(key, return_counts=True)
    return uniq // kt, cnt


def conditional_entropy(x: Grouping, t_codes: np.ndarray, kt: int) -> float:
    """H(T | X) in nats over the batch, skipping X values seen once (as the reference).

    ``sum_{x: n_x > 1} (n_x / N) * H(T | X = x) = -sum (n_xt / N) log(n_xt / n_x)``.
    """
    if x.n == 0:
        return 0.0
    if kt == 2:
        return _binary_conditional_entropy(x, t_codes)
    xc, c = _joint_counts(x, t_codes, kt)
    nx = x.counts[xc]
    keep = nx > 1
    cf = c[keep].astype(np.float64)
    return float(-(cf * np.log(cf / nx[keep])).sum() / x.n)


def _binary_conditional_entropy(x: Grouping, t_codes: np.ndarray) -> float:
    """H(T | X) for a 0/1 target: per-group positive counts by one weighted bincount."""
    pos = np.bincount(x.codes, weights=t_codes, minlength=x.k)
    keep = x.counts > 1
    n = x.counts[keep].astype(np.float64)
    p1 = pos[keep] / n
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p1 > 0, p1 * np.log(p1), 0.0) + np.where(p1 < 1, (1 - p1) * np.log1p(-p1), 0.0))
    return float((n * h).sum() / x.n)


def entropy(counts: np.ndarray) -> float:
    """Plug-in entropy (nats) of a (k,) count vector."""
    c = counts[counts > 0].astype(np.float64)
    if c.size == 0:
        return 0.0
    p = c / c.sum()
    return float(-(p * np.log(p)).sum())


def shifted_target(x: Grouping, t_codes: np.ndarray) -> np.ndarray:
    """The reference's background labels: row i takes ``t[(i - n_x(i)) mod n]``, (n,).

    ``n_x(i)`` is the batch count of row i's X value, so groups of equal size see the same
    shift: this is ``np.roll(Y, n_x)`` restricted to the group, vectorized over groups.
    """
    n = x.n
    src = (np.arange(n, dtype=np.int64) - x.row_counts()) % max(n, 1)
    return t_codes[src]


@dataclass(frozen=True)
class Terms:
    """Entropy terms (nats, over the batch) of target T grouped by X, singleton X values skipped.

    ``cond`` H(T|X), ``background`` H(T_shifted|X); ``marginal`` and ``marginal_bg``: the
    entropies of T and T_shifted over the rows in non-singleton groups, times their share.
    """

    cond: float
    background: float
    marginal: float
    marginal_bg: float

    def reference(self) -> float:
        """The reference's ``MI-numba-randomized``: H(T_shifted|X) - H(T|X)."""
        return self.background - self.cond

    def centred(self) -> float:
        """Same re-pairing, each side centred by its own marginal: MI(T;X) - MI(T_shifted;X).

        The shifted labels reuse some rows and drop others, so their positive rate drifts
        from the batch's; in the reference score that drift enters at first order (about
        0.005 nats per 8192-row batch at CTR 0.2). Centring removes it; the expectation
        is unchanged (about 0 without signal, whatever the cardinality).
        """
        return (self.marginal - self.cond) - (self.marginal_bg - self.background)


def randomized_terms(x: Grouping, t_codes: np.ndarray, kt: int, cond: Optional[float] = None) -> Terms:
    """All entropy terms of the cardinality-aware score of target t given grouping x
    (``cond``: H(T|X) when already known)."""
    shifted = shifted_target(x, t_codes)
    keep = x.row_counts() > 1
    share = float(keep.mean()) if x.n else 0.0
    m = share * entropy(np.bincount(t_codes[keep], minlength=kt))
    m_bg = share * entropy(np.bincount(shifted[keep], minlength=kt))
    if cond is None:
        cond = conditional_entropy(x, t_codes, kt)
    return Terms(cond, conditional_entropy(x, shifted, kt), m, m_bg)


def randomized_score(x: Grouping, t: Grouping, centred: bool = True) -> float:
    """Cardinality-aware score of target t given grouping x (H(T) when x is t, as the
    reference's diagonal case)."""
    if np.array_equal(x.codes, t.codes):
        return entropy(t.counts)
    terms = randomized_terms(x, t.codes, t.k)
    return terms.centred() if centred else terms.reference()


def plain_mi(x: Grouping, t: Grouping) -> float:
    """Plug-in mutual information H(T) - H(T | X) (the reference's ``MI-numba``)."""
    return entropy(t.counts) - conditional_entropy(x, t.codes, t.k)


def _outrank_class_terms(x: Grouping, t_codes: np.ndarray, kt: int) -> np.ndarray:
    """(k,) per-X-value terms of outrank's ``compute_conditional_entropy``, as float32.

    Term of value ``x``: ``-sum_t float32(n_x / N) * (n_xt / n_x) * log(n_xt / n_x)``,
    0 for values seen once (outrank skips them); float32 as the numba kernel returns it.
    """
    xc, c = _joint_counts(x, t_codes, kt)
    nx = x.counts[xc]
    cp = c / nx
    prior = (nx / x.n).astype(np.float32).astype(np.float64)
    terms = np.where(nx > 1, -prior * cp * np.log(cp), 0.0)
    return np.bincount(xc, weights=terms, minlength=x.k).astype(np.float32)


def outrank_shifted(x: Grouping, t_codes: np.ndarray) -> np.ndarray:
    """outrank's background target: row i takes ``t[(i + n_x(i)) mod n]``, (n,) (the numba
    loop ``Y[(el + _f_value_counts) % len(Y)]``; note ``+``, unlike :func:`shifted_target`)."""
    n = x.n
    return t_codes[(np.arange(n, dtype=np.int64) + x.row_counts()) % max(n, 1)]


def outrank_terms(x: Grouping, t_codes: np.ndarray, kt: int) -> tuple[float, float]:
    """(H(T|X), H(T_shifted|X)) exactly as outrank 0.97.5's ``compute_entropies`` with X the
    grouping (its ``X`` argument) and T the measured variable (its ``Y``): per-X-value
    float32 terms summed in float64, X values seen once skipped."""
    if x.n == 0:
        return 0.0, 0.0
    cond = float(_outrank_class_terms(x, t_codes, kt).astype(np.float64).sum())
    bg = float(_outrank_class_terms(x, outrank_shifted(x, t_codes), kt).astype(np.float64).sum())
    return cond, bg


def outrank_randomized(x: Grouping, t: Grouping) -> float:
    """outrank 0.97.5's ``mutual_info_estimator_numba(Y=t, X=x, 1.0, True)`` on one batch:
    ``float32(H(T_shifted|X) - H(T|X))``.

    outrank scores a feature against the label with ``x`` = the label and ``t`` = the
    feature (``numba_mi(feature, label)`` passes them as ``Y, X``). Its diagonal case
    (``sum(X - Y) == 0``: plain MI ``H(T) - H(T|X)``) is taken here for identical codes only.
    """
    if np.array_equal(x.codes, t.codes):
        return entropy(t.counts)
    cond, bg = outrank_terms(x, t.codes, t.k)
    return float(np.float32(bg - cond))


# ---------------------------------------------------------------------------------------
# Per-batch scores
# ---------------------------------------------------------------------------------------


def outrank_relevance_batch(groups: Sequence[Grouping], label: Grouping) -> np.ndarray:
    """(F,) outrank's feature-label score per field (:func:`outrank_randomized`, grouping by
    the label)."""
    return np.array([outrank_randomized(label, g) for g in groups], dtype=np.float64)


def relevance_batch(groups: Sequence[Grouping], label: Grouping) -> np.ndarray:
    """(3, F) per field vs the label: centred score, transposed reference score, plain MI."""
    h_y = entropy(label.counts)
    out = np.empty((3, len(groups)))
    for j, g in enumerate(groups):
        if np.array_equal(g.codes, label.codes):
            out[:, j] = h_y
            continue
        terms = randomized_terms(g, label.codes, label.k)
        out[:, j] = terms.centred(), terms.reference(), h_y - terms.cond
    return out


def pair_batch(a: Grouping, b: Grouping, label: Grouping, centred: bool = True,
               score: Optional[str] = None) -> tuple[float, float, float]:
    """(redundancy, redundancy ratio, relation) of fields a (target) and b (grouping).

    Redundancy always uses the uncentred form: centring by the marginal entropy of a
    high-cardinality target is biased (re-pairing reuses rows, so the shifted target has
    fewer distinct values), unlike for the label. ``centred`` applies to the relation.
    ``score="outrank"`` (overrides ``centred``): outrank's kernel throughout
    (:func:`outrank_randomized`: ``+count`` shift, float32 terms); the relation is the
    combined field's outrank relevance (grouping by the label).

    One grouping of the rows by (b, a) gives H(A | B) and is also the combined field whose
    cardinality-aware relevance to the label is the relation score. The ratio is
    ``1 - H(A|B) / H(A_shifted|B)``: the share of A's background uncertainty that B removes.
    """
    joint, b_of_joint = joint_grouping(b, a)
    if score == "outrank":
        if np.array_equal(a.codes, b.codes):
            redundancy, ratio = entropy(a.counts), 1.0
        else:
            cond, bg = outrank_terms(b, a.codes, a.k)
            redundancy = float(np.float32(bg - cond))
            ratio = redundancy / bg if bg > 0 else 0.0
        return redundancy, ratio, outrank_randomized(label, joint)
    if score is not None:
        centred = score == "centred"
    if np.array_equal(a.codes, b.codes):
        redundancy, ratio = entropy(a.counts), 1.0
    else:
        nb = b.counts[b_of_joint]
        keep = nb > 1
        cf = joint.counts[keep].astype(np.float64)
        cond = float(-(cf * np.log(cf / nb[keep])).sum() / max(b.n, 1))
        terms = randomized_terms(b, a.codes, a.k, cond)
        redundancy = terms.reference()
        ratio = terms.reference() / terms.background if terms.background > 0 else 0.0
    rel_terms = randomized_terms(joint, label.codes, label.k)
    return redundancy, ratio, rel_terms.centred() if centred else rel_terms.reference()
