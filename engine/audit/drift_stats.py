"""Per-channel drift statistics between two samples of channel scores.

For each channel: the Wasserstein-1 distance between the two empirical
distributions divided by the reference's standard deviation (an effect size
that does not grow with the sample size), and the two-sample Kolmogorov-Smirnov
statistic with its asymptotic p-value; Benjamini-Hochberg q-values across all
channels control the false discovery rate. At large n every p-value is small,
so channels are ranked by effect size and flagged by q-value *and* a minimum
effect size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Flag a channel when its q-value is below ALPHA and its effect size at least MIN_EFFECT.
ALPHA = 0.05
MIN_EFFECT = 0.25


@dataclass(frozen=True)
class ChannelDrift:
    """Per-channel arrays: effect size, KS statistic, p-value, q-value, flagged."""

    effect_size: np.ndarray
    ks: np.ndarray
    p: np.ndarray
    q: np.ndarray
    flagged: np.ndarray


def wasserstein1(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """W1 per column of samples a [n, C] and b [m, C]: the area between the quantile functions."""
    sa, sb = np.sort(a.astype(np.float64), axis=0), np.sort(b.astype(np.float64), axis=0)
    n, m = len(sa), len(sb)
    levels = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    widths = np.diff(np.concatenate([[0.0], levels]))
    ia = np.minimum(np.ceil(levels * n - 1e-9).astype(np.int64) - 1, n - 1)
    ib = np.minimum(np.ceil(levels * m - 1e-9).astype(np.int64) - 1, m - 1)
    result: np.ndarray = (np.abs(sa[ia] - sb[ib]) * widths[:, None]).sum(axis=0)
    return result


def ks_statistic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two-sample KS statistic per column: the largest gap between the empirical CDFs."""
    result = np.zeros(a.shape[1])
    n, m = len(a), len(b)
    for column in range(a.shape[1]):
        sa, sb = np.sort(a[:, column]), np.sort(b[:, column])
        points = np.concatenate([sa, sb])
        fa = np.searchsorted(sa, points, side="right") / n
        fb = np.searchsorted(sb, points, side="right") / m
        result[column] = float(np.max(np.abs(fa - fb)))
    return result


def ks_pvalue(d: np.ndarray, n: int, m: int) -> np.ndarray:
    """Asymptotic two-sided p-value of the KS statistic (Kolmogorov distribution, with
    Stephens' small-sample correction)."""
    en = np.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * np.asarray(d, dtype=np.float64)
    j = np.arange(1, 101)[:, None]
    terms = 2.0 * ((-1.0) ** (j - 1)) * np.exp(-2.0 * (j ** 2) * (lam[None, :] ** 2))
    p = np.clip(terms.sum(axis=0), 0.0, 1.0)
    result: np.ndarray = np.where(lam < 1e-3, 1.0, p)
    return result


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of p-values (same order)."""
    count = len(p)
    if count == 0:
        return np.zeros(0)
    order = np.argsort(p, kind="stable")
    ranked = p[order] * count / np.arange(1, count + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    result = np.empty(count)
    result[order] = np.clip(q, 0.0, 1.0)
    return result


def channel_drift(reference: np.ndarray, current: np.ndarray, alpha: float = ALPHA,
                  min_effect: float = MIN_EFFECT) -> ChannelDrift:
    """Drift of every channel (columns) of ``current`` [m, C] against ``reference`` [n, C].

    A channel constant in the reference gets an infinite effect size if the
    current sample differs at all, else 0.
    """
    w1 = wasserstein1(reference, current)
    std = reference.astype(np.float64).std(axis=0)
    effect = np.where(std > 0, w1 / np.where(std > 0, std, 1.0),
                      np.where(w1 > 0, np.inf, 0.0))
    d = ks_statistic(reference, current)
    p = ks_pvalue(d, len(reference), len(current))
    q = benjamini_hochberg(p)
    return ChannelDrift(effect_size=effect, ks=d, p=p, q=q,
                        flagged=(q < alpha) & (effect >= min_effect))
