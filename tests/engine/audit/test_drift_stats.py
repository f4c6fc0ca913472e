"""Drift statistics against closed forms and independent computations."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audit.drift_stats import (
    benjamini_hochberg,
    channel_drift,
    ks_pvalue,
    ks_statistic,
    wasserstein1,
)


def _w1_by_cdf(a: np.ndarray, b: np.ndarray) -> float:
    """W1 as the area between the empirical CDFs (another route than quantiles)."""
    points = np.sort(np.concatenate([a, b]))
    fa = np.searchsorted(np.sort(a), points, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), points, side="right") / len(b)
    return float((np.abs(fa - fb)[:-1] * np.diff(points)).sum())


def test_wasserstein_agrees_with_the_cdf_form_and_closed_forms() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (300, 3)), rng.normal(0.5, 2, (170, 3))
    expected = [_w1_by_cdf(a[:, c], b[:, c]) for c in range(3)]
    np.testing.assert_allclose(wasserstein1(a, b), expected, rtol=1e-10)
    shift = np.arange(10.0)[:, None]
    assert wasserstein1(shift, shift + 2.5)[0] == pytest.approx(2.5)  # a pure shift


def test_ks_statistic_and_pvalue_known_values() -> None:
    a = np.array([[1.0], [2.0], [3.0], [4.0]])
    b = np.array([[3.5], [4.5], [5.5], [6.5]])
    assert ks_statistic(a, b)[0] == pytest.approx(0.75)
    # Kolmogorov distribution Q(lambda): Q(0.5)=0.963945, Q(1.0)=0.270000, Q(1.36)=0.049465
    big = 10**9  # en -> sqrt(n/2) large: the correction vanishes
    for lam, q in ((0.5, 0.9639452436648751), (1.0, 0.2699996716735555), (1.36, 0.04946)):
        d = lam / np.sqrt(big / 2)
        assert ks_pvalue(np.array([d]), big, big)[0] == pytest.approx(q, rel=2e-3)


def test_benjamini_hochberg_known_example() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])


def test_a_sample_compared_with_itself_flags_nothing_and_a_shift_is_flagged() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(0, 1, (2000, 40))
    same = channel_drift(ref, ref)
    assert not same.flagged.any() and np.all(same.effect_size == 0)
    moved = ref[:1500].copy()
    moved[:, :5] += 1.0  # five channels drift by one standard deviation
    moved[:, 5:10] += 0.02  # five by a tiny amount: significant at this n maybe, not flagged
    drift = channel_drift(ref, moved)
    assert drift.flagged[:5].all() and not drift.flagged[5:].any()
    assert np.all(drift.effect_size[:5] > 0.9)
