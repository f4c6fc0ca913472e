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

from dataclasses import dataclass

import numpy as np

from engine.attribution.context import Context
from engine.attribution.method_spec import Method, MethodOutput, PassQuery
from engine.attribution.resample import resize_maps
from engine.cancellation import CancelToken, ProgressCallback


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


@dataclass(frozen=True)
class EigenCamParams:
    """Eigen-CAM has no parameters."""


def run(ctx: Context, params: EigenCamParams, progress: ProgressCallback,
        cancel: CancelToken) -> MethodOutput:
    """Eigen-CAM of the context's layer, upsampled (bilinear, half-pixel) to the input size."""
    del params, progress
    cancel.check()
    heatmap = resize_maps(projection(ctx.layer_activations().maps), ctx.geometry.size)
    return MethodOutput(heatmap=heatmap.astype(np.float32), forward_passes=0, batch_size=1,
                        path="numpy", notes=["sign chosen so the map is mostly positive"])


def estimate_passes(query: PassQuery, params: EigenCamParams) -> int:
    """No pass beyond the reference run, which already returns the layer."""
    del query, params
    return 0


METHOD = Method(
    name="eigen-cam", title="Eigen-CAM",
    description="The first principal component of a layer's activations; no pass beyond the "
    "model's own run, an instant preview.",
    params_type=EigenCamParams, run=run, estimate_passes=estimate_passes, needs_layer=True)
