"""Occlusion windows: positions, boxes, pass counts and the map from per-window drops.

Shared by plain occlusion (:mod:`engine.attribution.occlusion`) and its
coarse-to-fine form (:mod:`engine.attribution.refine`). Windows follow Captum:
they start at 0 and move by the stride until the dimension is covered,
``ceil((D - w) / s) + 1`` positions per dimension, the last cut off at the edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: Scores a set of boxes (fused graph or numpy masks): (boxes, message) -> (scores, batch size).
ScoreBoxes = Callable[[np.ndarray, str], tuple[np.ndarray, int]]


def positions(size: int, window: int, stride: int) -> int:
    """Number of window positions along one dimension (Captum's shift count)."""
    window = min(window, size)
    return math.ceil((size - window) / stride) + 1


def window_boxes(height: int, width: int, window: tuple[int, int], stride: tuple[int, int]
                 ) -> np.ndarray:
    """All windows as int64 (y0, x0, y1, x1), rows first."""
    rows = positions(height, window[0], stride[0])
    cols = positions(width, window[1], stride[1])
    boxes = np.empty((rows * cols, 4), dtype=np.int64)
    k = 0
    for i in range(rows):
        y0 = i * stride[0]
        for j in range(cols):
            x0 = j * stride[1]
            boxes[k] = (y0, x0, min(y0 + window[0], height), min(x0 + window[1], width))
            k += 1
    return boxes


def count_passes(height: int, width: int, window: tuple[int, int], stride: tuple[int, int]
                 ) -> int:
    """Forward passes occlusion needs for this input size, window and stride."""
    return positions(height, window[0], stride[0]) * positions(width, window[1], stride[1])


def accumulate(boxes: np.ndarray, deltas: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mean over covering windows of each window's score drop."""
    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.float64)
    for (y0, x0, y1, x1), delta in zip(boxes, deltas, strict=True):
        total[y0:y1, x0:x1] += delta
        count[y0:y1, x0:x1] += 1.0
    return np.where(count > 0, total / np.maximum(count, 1.0), 0.0)
