"""Eigen-CAM: the first principal component of a layer's activations (one pass).

The (h*w, K) activation matrix is centred per channel (as pytorch-grad-cam
does) and projected on its first right singular vector. A centred projection
sums to zero, so "mostly positive" is decided where it matters: the sign is
chosen so the map correlates positively with the layer's summed activation
(it is positive where the layer is most active), or, if that correlation is
zero, so that its largest-magnitude value is positive. One forward pass, so it
serves as the instant preview while a slower method runs.
"""

from __future__ import annotations

import numpy as np

from engine.attribution.common import MethodOutput
from engine.attribution.layers import Activations
from engine.attribution.resample import resize_maps


def projection(maps: np.ndarray) -> np.ndarray:
    """First-principal-component projection (h, w) of (K, h, w) activations."""
    k, h, w = maps.shape
    matrix = maps.reshape(k, h * w).T.astype(np.float64)
    matrix = matrix - matrix.mean(axis=0, keepdims=True)
    if not np.any(matrix):
        return np.zeros((h, w))
    _, _, vt = np.linalg.svd(matrix, full_matrices=False)
    projected = matrix @ vt[0]
    total = maps.reshape(k, h * w).sum(axis=0)
    agreement = float(np.dot(projected, total - total.mean()))
    peak = float(projected[np.argmax(np.abs(projected))])
    if agreement < 0 or (agreement == 0 and peak < 0):
        projected = -projected
    result: np.ndarray = projected.reshape(h, w)
    return result


def run(acts: Activations, size: tuple[int, int], batch_size: int) -> MethodOutput:
    """Eigen-CAM of the layer, upsampled (bilinear, half-pixel) to ``size`` = (H, W)."""
    heatmap = resize_maps(projection(acts.maps), size)
    return MethodOutput(heatmap=heatmap.astype(np.float32), forward_passes=1,
                        batch_size=batch_size, path="numpy",
                        notes=["sign chosen so the map is mostly positive"])
