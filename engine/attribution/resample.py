"""Bilinear resampling as interpolation matrices, and map normalisation.

Resizing a (h, w) map to (H, W) bilinearly is ``R_y @ map @ R_x.T`` with two
small matrices, which makes upsampling many channels (or many RISE grids with
their random shifts) a pair of matrix products, and gives the same numbers as
ONNX Resize (``half_pixel`` / ``align_corners``, linear).
"""

from __future__ import annotations

import numpy as np


def interp_matrix(src: int, dst: int, align_corners: bool = False, offset: float = 0.0,
                  scale: float | None = None) -> np.ndarray:
    """Return the (dst, src) matrix of 1-D linear interpolation.

    Parameters
    ----------
    src, dst
        Source and destination lengths.
    align_corners
        Corner pixels aligned (PyTorch ``align_corners=True``) instead of
        half-pixel centres (ONNX ``half_pixel``, OpenCV ``INTER_LINEAR``).
    offset
        Shift in destination pixels (RISE's random crop of a larger upsampling).
    scale
        Destination pixels per source pixel; default ``dst / src``.

    Returns
    -------
    numpy.ndarray
        float64 weights; each row sums to 1.
    """
    out = np.arange(dst, dtype=np.float64) + offset
    if align_corners:
        ratio = (src - 1) / (dst - 1) if dst > 1 else 0.0
        pos = out * ratio
    else:
        factor = scale if scale is not None else dst / src
        pos = (out + 0.5) / factor - 0.5
    pos = np.clip(pos, 0.0, src - 1)
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, src - 1)
    frac = pos - low
    matrix = np.zeros((dst, src), dtype=np.float64)
    rows = np.arange(dst)
    np.add.at(matrix, (rows, low), 1.0 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def resize_maps(maps: np.ndarray, size: tuple[int, int], align_corners: bool = False
                ) -> np.ndarray:
    """Bilinearly resize (K, h, w) or (h, w) maps to ``size`` = (H, W), float64."""
    squeeze = maps.ndim == 2
    stack = maps[None] if squeeze else maps
    ry = interp_matrix(stack.shape[1], size[0], align_corners)
    rx = interp_matrix(stack.shape[2], size[1], align_corners)
    out: np.ndarray = np.einsum("yh,khw,xw->kyx", ry, stack.astype(np.float64), rx,
                                optimize=True)
    return out[0] if squeeze else out


def minmax(values: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """Scale to [0, 1] by (v - min) / (max - min + eps); a constant map becomes 0."""
    v = np.asarray(values, dtype=np.float64)
    low, high = float(np.min(v)), float(np.max(v))
    span = high - low + eps
    return np.zeros_like(v) if span <= 0 else (v - low) / span


def minmax_channels(maps: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """Per-channel min-max of (K, H, W) maps (constant channels become 0)."""
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.min(axis=1)[:, None, None]
    span = flat.max(axis=1)[:, None, None] - low + eps
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (maps - low) / safe, 0.0)
