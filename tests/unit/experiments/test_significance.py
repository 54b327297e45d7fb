"""Paired bootstrap of an AUC difference and the paired test over seeds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from recsys.errors import ConfigError
from recsys.experiments.significance import (direct_bootstrap_deltas, paired_bootstrap_auc,
                                             paired_seed_test)


def _two_models(n: int, seed: int = 0, noise_b: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels from a latent score; model A sees it with a little noise, B with ``noise_b``.
    Scores are rounded so ties occur (the tie handling must match too)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * z))).astype(np.int64)
    a = np.round(z + 0.3 * rng.normal(size=n), 1)
    b = np.round(z + noise_b * rng.normal(size=n), 1)
    return y, a, b


def test_fast_bootstrap_equals_direct_computation_on_a_small_case() -> None:
    y, a, b = _two_models(300)
    d = paired_bootstrap_auc(y, a, b, resamples=200, seed=5)
    direct = direct_bootstrap_deltas(y, a, b, resamples=200, seed=5)
    low, high = np.percentile(direct, [2.5, 97.5])
    assert d.low == pytest.approx(low, abs=1e-12) and d.high == pytest.approx(high, abs=1e-12)
    assert d.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert d.delta == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)


def test_identical_predictions_give_an_interval_containing_zero() -> None:
    y, a, _ = _two_models(2000)
    d = paired_bootstrap_auc(y, a, a.copy(), resamples=300)
    assert d.delta == 0 and d.low <= 0 <= d.high and not d.excludes_zero() and d.p_value == 1.0


def test_clearly_different_models_give_an_interval_excluding_zero() -> None:
    y, a, b = _two_models(5000, noise_b=2.0)
    d = paired_bootstrap_auc(y, a, b, resamples=300)
    assert d.delta > 0.05 and d.low > 0 and d.excludes_zero() and d.p_value < 0.01


def test_equally_good_models_are_called_different_about_five_percent_of_the_time() -> None:
    """Calibration: 40 datasets where A and B are equally good (independent noise of the same
    size); a 95% interval should exclude 0 in about 5% of them, and certainly not in most."""
    excluded = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        z = rng.normal(size=2000)
        y = (rng.random(2000) < 1 / (1 + np.exp(-2 * z))).astype(np.int64)
        d = paired_bootstrap_auc(y, z + rng.normal(size=2000), z + rng.normal(size=2000), resamples=200, seed=seed)
        excluded += d.excludes_zero()
    assert excluded <= 6, excluded


def test_pairing_matters_the_interval_is_narrower_than_unpaired_noise() -> None:
    """Two strongly correlated models: the paired interval is far narrower than one AUC's own spread."""
    y, a, _ = _two_models(5000)
    b = a + np.random.default_rng(2).normal(scale=0.05, size=len(a))
    d = paired_bootstrap_auc(y, a, b, resamples=300)
    single = paired_bootstrap_auc(y, a, np.zeros_like(a), resamples=300)  # AUC(a) - 0.5: spread of AUC(a)
    assert (d.high - d.low) < 0.3 * (single.high - single.low)


def test_mismatched_rows_are_refused() -> None:
    y, a, b = _two_models(100)
    with pytest.raises(ConfigError, match="same rows"):
        paired_bootstrap_auc(y, a, b[:-1])
    with pytest.raises(ConfigError, match="clicks and non-clicks"):
        paired_bootstrap_auc(np.ones(100, np.int64), a, b)


def test_paired_seed_test() -> None:
    better = paired_seed_test([0.801, 0.803, 0.802, 0.804], [0.795, 0.796, 0.797, 0.796])
    assert better.mean_delta > 0 and better.p_value < 0.01
    same = paired_seed_test([0.80, 0.81, 0.79], [0.80, 0.81, 0.79])
    assert same.mean_delta == 0 and same.p_value == 1.0
    with pytest.raises(ConfigError, match="2 seeds"):
        paired_seed_test([0.8], [0.7])
