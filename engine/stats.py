"""Statistics, display normalisation and channel mosaics of feature maps."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from engine.types import LayerStats

Normalization = Literal["channel", "layer", "fixed"]


def as_images(data: np.ndarray) -> np.ndarray:
    """View a (C, *spatial) map as (C, H, W) images.

    1-D maps (C, L) become one-row images (C, 1, L); 3-D maps (C, D, H, W) show
    their middle depth slice.
    """
    if data.ndim == 2:
        return data[:, None, :]
    if data.ndim == 3:
        return data
    if data.ndim == 4:
        return data[:, data.shape[1] // 2]
    if data.ndim == 1:
        return data[:, None, None]
    flat = data.reshape(data.shape[0], -1)
    return flat[:, None, :]


def channel_stats(data: np.ndarray) -> LayerStats:
    """Per-channel and per-layer statistics of a (C, *spatial) feature map.

    Parameters
    ----------
    data
        Float feature map, channels first.

    Returns
    -------
    LayerStats
        min, max, mean, std, fraction of exact zeros, and a dead flag for
        channels that are constant over the whole map.
    """
    flat = np.asarray(data, dtype=np.float32).reshape(data.shape[0], -1)
    if flat.shape[1] == 0:
        zeros = np.zeros(flat.shape[0])
        return LayerStats(zeros, zeros, zeros, zeros, zeros, np.ones(flat.shape[0], bool),
                          0.0, 0.0, 0.0, 0.0, 0.0)
    if not np.isfinite(flat).all():
        flat = np.where(np.isfinite(flat), flat, np.float32(0.0))
    cmin = flat.min(axis=1).astype(np.float64)
    cmax = flat.max(axis=1).astype(np.float64)
    mean = flat.mean(axis=1, dtype=np.float64)
    square = np.einsum("ij,ij->i", flat, flat, dtype=np.float64) / flat.shape[1]
    std = np.sqrt(np.maximum(square - mean * mean, 0.0))
    zero_fraction = (flat.shape[1] - np.count_nonzero(flat, axis=1)) / flat.shape[1]
    layer_mean = float(mean.mean())
    layer_std = float(np.sqrt(max(float(square.mean()) - layer_mean * layer_mean, 0.0)))
    return LayerStats(
        min=cmin, max=cmax, mean=mean, std=std, zero_fraction=zero_fraction,
        dead=(cmax - cmin) <= 1e-12 * np.maximum(1.0, np.abs(cmax)),
        layer_min=float(cmin.min()), layer_max=float(cmax.max()),
        layer_mean=layer_mean, layer_std=layer_std,
        layer_zero_fraction=float(zero_fraction.mean()),
    )


def normalize(data: np.ndarray, mode: Normalization = "channel",
              fixed: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Scale a (C, ...) map to [0, 1] for display, as float32.

    Parameters
    ----------
    data
        Feature map, channels first.
    mode
        ``channel``: each channel to its own min..max; ``layer``: the layer's
        min..max; ``fixed``: the range ``fixed``. Constant channels become 0.
    fixed
        (low, high) used by ``fixed``.
    """
    x = np.nan_to_num(np.asarray(data, dtype=np.float32))
    lo: np.ndarray | np.floating
    hi: np.ndarray | np.floating
    if mode == "channel":
        axes = tuple(range(1, x.ndim))
        lo = x.min(axis=axes, keepdims=True)
        hi = x.max(axis=axes, keepdims=True)
    elif mode == "layer":
        lo, hi = np.float32(x.min(initial=0.0)), np.float32(x.max(initial=0.0))
    else:
        lo, hi = np.float32(fixed[0]), np.float32(fixed[1])
    span = np.where(hi - lo > 0, hi - lo, 1.0).astype(np.float32)
    out = (x - lo) / span
    out = np.where(hi - lo > 0, out, 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def grid_shape(count: int, tile_h: int, tile_w: int) -> tuple[int, int]:
    """Rows and columns for ``count`` tiles so the mosaic is roughly square."""
    if count <= 0:
        return 0, 0
    aspect = tile_h / max(1, tile_w)
    cols = max(1, math.ceil(math.sqrt(count * aspect)))
    rows = math.ceil(count / cols)
    return rows, cols


def mosaic(images: np.ndarray, order: np.ndarray | None = None, pad: int = 1,
           fill: float = np.nan, columns: int | None = None) -> np.ndarray:
    """Tile (C, H, W) images into one 2-D float32 array.

    Parameters
    ----------
    images
        Channel images, typically normalised to [0, 1].
    order
        Channel indices in display order (default: 0..C-1).
    pad
        Pixels between tiles.
    fill
        Value of the padding (NaN lets a viewer draw it as background).
    columns
        Force the number of columns.

    Returns
    -------
    ndarray
        float32 (rows * (H + pad) - pad, cols * (W + pad) - pad).
    """
    c, h, w = images.shape
    idx = np.arange(c) if order is None else np.asarray(order)
    if columns is not None:
        cols = max(1, columns)
        rows = math.ceil(len(idx) / cols)
    else:
        rows, cols = grid_shape(len(idx), h, w)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill, dtype=np.float32)
    for slot, channel in enumerate(idx):
        r, col = divmod(slot, cols)
        top, left = r * (h + pad), col * (w + pad)
        out[top:top + h, left:left + w] = images[channel]
    return out


def mosaic_cell(row: int, col: int, tile: tuple[int, int], columns: int,
                pad: int = 1) -> int | None:
    """Return the slot index under mosaic pixel (row, col), or None on padding."""
    h, w = tile
    r, rr = divmod(row, h + pad)
    c, cc = divmod(col, w + pad)
    if rr >= h or cc >= w or c >= columns or row < 0 or col < 0:
        return None
    return r * columns + c


def sort_order(stats: LayerStats, key: str) -> np.ndarray:
    """Channel display order: ``index``, or descending ``mean``, ``max`` or ``sparsity``."""
    n = len(stats.mean)
    if key == "mean":
        return np.argsort(-stats.mean, kind="stable")
    if key == "max":
        return np.argsort(-stats.max, kind="stable")
    if key == "sparsity":
        return np.argsort(-stats.zero_fraction, kind="stable")
    return np.arange(n)
