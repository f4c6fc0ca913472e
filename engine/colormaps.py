"""256-entry colour lookup tables, built from a few anchor colours."""

from __future__ import annotations

import numpy as np

_ANCHORS: dict[str, list[tuple[int, int, int]]] = {
    "viridis": [(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
                (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37)],
    "inferno": [(0, 0, 4), (31, 12, 72), (85, 15, 109), (136, 34, 106), (186, 54, 85),
                (227, 89, 51), (249, 140, 10), (249, 201, 50), (252, 255, 164)],
    "magma": [(0, 0, 4), (28, 16, 68), (79, 18, 123), (129, 37, 129), (181, 54, 122),
              (229, 80, 100), (251, 135, 97), (254, 194, 135), (252, 253, 191)],
    "turbo": [(48, 18, 59), (70, 107, 227), (40, 187, 236), (49, 242, 153), (162, 252, 60),
              (237, 208, 58), (251, 128, 34), (208, 47, 5), (122, 4, 3)],
    "gray": [(0, 0, 0), (255, 255, 255)],
    "coolwarm": [(59, 76, 192), (141, 176, 254), (221, 221, 221), (244, 154, 123), (180, 4, 38)],
}

COLORMAPS: tuple[str, ...] = tuple(_ANCHORS)


def lookup_table(name: str) -> np.ndarray:
    """Return a (256, 3) uint8 lookup table for a colormap name.

    Raises
    ------
    KeyError
        Unknown colormap.
    """
    anchors = np.asarray(_ANCHORS[name], dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(anchors))
    x = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(x, positions, anchors[:, k]) for k in range(3)], axis=1)
    return np.clip(np.round(table), 0, 255).astype(np.uint8)


def apply_colormap(values: np.ndarray, name: str = "viridis",
                   background: tuple[int, int, int] = (32, 32, 32)) -> np.ndarray:
    """Colour a 2-D array of values in [0, 1] (NaN = background) as uint8 RGB."""
    table = lookup_table(name)
    finite = np.isfinite(values)
    index = np.clip(np.nan_to_num(values) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgb: np.ndarray = table[index]
    rgb[~finite] = background
    return rgb
