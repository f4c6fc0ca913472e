"""Coarse-to-fine occlusion: a sparse pass, then fine windows only where the map is strong.

The fine windows form a grid of positions (rows x cols, see
:func:`engine.attribution.windows.window_boxes`).

1. Coarse pass: score every ``coarse_step``-th position per dimension (plus
   the last), i.e. the same window at a ``coarse_step`` times larger stride.
   These are fine windows too, so their drops are exact.
2. Estimate the drop of every other position by bilinear interpolation over
   the grid of scored positions, and score for real the ``keep_fraction`` of
   them whose estimate is largest in magnitude (strong evidence either way).
3. The map is Captum's occlusion map over all fine windows with the measured
   drops where scored and the interpolated ones elsewhere; where every window
   covering a pixel was scored it equals the full fine map exactly.

The pass count is exact before running: coarse positions plus
``ceil(keep_fraction * remaining)``; with ``compare`` every fine window is
scored (the full map, to report the refined map's agreement with it).
"""

from __future__ import annotations

import math

import numpy as np

from engine.attribution.context import Context
from engine.attribution.windows import ScoreBoxes, accumulate, positions


def coarse_positions(count: int, step: int) -> np.ndarray:
    """Every ``step``-th of ``count`` positions, always including the last."""
    picked = np.arange(0, count, max(1, step))
    return picked if picked[-1] == count - 1 else np.append(picked, count - 1)


def kept_windows(remaining: int, keep_fraction: float) -> int:
    """How many of the ``remaining`` fine windows are scored: ``ceil(keep_fraction * n)``."""
    return min(remaining, max(0, math.ceil(keep_fraction * remaining - 1e-9)))


def count_refined_passes(height: int, width: int, window: tuple[int, int],
                         stride: tuple[int, int], coarse_step: int, keep_fraction: float,
                         compare: bool = False) -> int:
    """Exact forward passes of coarse-to-fine occlusion (``compare``: every fine window)."""
    rows = positions(height, window[0], stride[0])
    cols = positions(width, window[1], stride[1])
    if compare:
        return rows * cols
    coarse = len(coarse_positions(rows, coarse_step)) * len(coarse_positions(cols, coarse_step))
    return coarse + kept_windows(rows * cols - coarse, keep_fraction)


def interpolate_grid(values: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                     shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of ``values`` known at grid ``rows`` x ``cols`` to ``shape``."""
    across = np.stack([np.interp(np.arange(shape[0]), rows, values[:, j])
                       for j in range(len(cols))], axis=1)
    return np.stack([np.interp(np.arange(shape[1]), cols, across[i]) for i in range(shape[0])])


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps (1.0 when both are constant and equal)."""
    x, y = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(x @ x) * float(y @ y))
    if denom == 0.0:
        return 1.0 if np.allclose(a, b) else 0.0
    return float(x @ y) / denom


def coarse_to_fine(ctx: Context, score: ScoreBoxes, boxes: np.ndarray,
                   grid: tuple[int, int], coarse_step: int, keep_fraction: float,
                   compare: bool) -> tuple[np.ndarray, int, int, dict[str, float], list[str]]:
    """Run coarse-to-fine occlusion over the fine ``boxes``.

    Parameters
    ----------
    ctx
        The prepared model, input and target.
    score
        Scores a set of boxes (the fused graph or numpy masks) and returns
        (scores, batch size).
    boxes
        All fine windows, rows first (:func:`engine.attribution.windows.window_boxes`).
    grid
        Their positions per dimension (rows, cols).
    coarse_step
        The coarse pass scores every ``coarse_step``-th position per dimension.
    keep_fraction
        Share of the other positions scored, those with the strongest estimate.
    compare
        Also score the rest and report the refined map's correlation with the
        full fine map (``stats["agreement"]``).

    Returns
    -------
    (ndarray, int, int, dict, list of str)
        Heatmap, forward passes run, batch size, stats and notes.
    """
    height, width = ctx.geometry.height, ctx.geometry.width
    rows, cols = coarse_positions(grid[0], coarse_step), coarse_positions(grid[1], coarse_step)
    coarse = (rows[:, None] * grid[1] + cols[None, :]).ravel()
    coarse_scores, size = score(boxes[coarse], "occlusion (coarse)")
    measured = np.full(len(boxes), np.nan)
    measured[coarse] = ctx.target_score - coarse_scores
    estimate = interpolate_grid(measured[coarse].reshape(len(rows), len(cols)), rows, cols,
                                grid).ravel()
    remaining = np.flatnonzero(np.isnan(measured))
    count = kept_windows(len(remaining), keep_fraction)
    chosen = np.sort(remaining[np.argsort(-np.abs(estimate[remaining]), kind="stable")[:count]])
    if count:
        fine_scores, fine_size = score(boxes[chosen], "occlusion (fine)")
        measured[chosen] = ctx.target_score - fine_scores
        size = max(size, fine_size)
    deltas = np.where(np.isnan(measured), estimate, measured)
    heatmap = accumulate(boxes, deltas, height, width)
    passes = len(coarse) + count
    stats = {"windows": float(len(boxes)), "coarse_windows": float(len(coarse)),
             "fine_windows_scored": float(count), "refined_passes": float(passes),
             "full_passes": float(len(boxes))}
    notes = [f"coarse-to-fine: {len(coarse)} windows at {coarse_step}x the stride, then "
             f"{count} of the other {len(remaining)} where the map is strongest ({passes} "
             f"passes instead of {len(boxes)}); the rest interpolated"]
    if compare:
        rest = np.flatnonzero(np.isnan(measured))
        full = measured.copy()
        if len(rest):
            rest_scores, _ = score(boxes[rest], "occlusion (full map for comparison)")
            full[rest] = ctx.target_score - rest_scores
        agreement = correlation(heatmap, accumulate(boxes, full, height, width))
        stats["agreement"] = agreement
        stats["comparison_passes"] = float(len(rest))
        notes.append(f"agreement with the full fine map: correlation {agreement:.4f} "
                     f"({len(rest)} more passes spent on the comparison)")
        passes += len(rest)
    return heatmap, passes, size, stats, notes
