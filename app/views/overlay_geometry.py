"""Where predictions lie in the input view, and which output cells a dragged rectangle covers.

The input view shows ``PreparedInput.display``: the image as the model receives it
(model-input pixels). The engine gives boxes and points in the ORIGINAL image's
pixels; :class:`~engine.types.ImageTransform` maps original pixels onto the model
input as ``model = original * scale + offset`` (its ``to_original`` is the
inverse). Inputs without a transform (tensors) are in model-input pixels already.
"""

from __future__ import annotations

import math

from engine.types import ImageTransform

Box = tuple[float, float, float, float]


def to_display_point(point: tuple[float, float], transform: ImageTransform | None
                     ) -> tuple[float, float]:
    """An original-pixel point (x, y) in the displayed model-input image."""
    x, y = point
    if transform is None:
        return x, y
    return x * transform.scale[1] + transform.offset[1], \
        y * transform.scale[0] + transform.offset[0]


def to_display_box(box: Box, transform: ImageTransform | None) -> Box:
    """An original-pixel box (x0, y0, x1, y1) in the displayed model-input image."""
    x0, y0 = to_display_point((box[0], box[1]), transform)
    x1, y1 = to_display_point((box[2], box[3]), transform)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def box_at(boxes: list[Box], x: float, y: float) -> int | None:
    """Index of the smallest box containing (x, y) (the innermost of nested boxes)."""
    best, best_area = None, math.inf
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        if x0 <= x <= x1 and y0 <= y <= y1:
            area = (x1 - x0) * (y1 - y0)
            if area < best_area:
                best, best_area = i, area
    return best


def nearest_point(points: list[tuple[float, float]], x: float, y: float,
                  radius: float) -> int | None:
    """Index of the point nearest to (x, y) within ``radius``, if any."""
    best, best_d = None, radius
    for i, (px, py) in enumerate(points):
        d = math.hypot(px - x, py - y)
        if d <= best_d:
            best, best_d = i, d
    return best


def region_cells(rect: Box, display_size: tuple[int, int], map_size: tuple[int, int]
                 ) -> tuple[int, int, int, int]:
    """The output cells (y0, x0, y1, x1), end exclusive, under a rectangle of the display.

    Parameters
    ----------
    rect
        (x0, y0, x1, y1) in display (model-input) pixels, in any corner order.
    display_size
        (height, width) of the displayed input.
    map_size
        (height, width) of the map output, which covers the whole input.

    Returns
    -------
    tuple
        At least one cell, clipped to the map.
    """
    height, width = display_size
    rows, cols = map_size
    sx, sy = cols / max(1, width), rows / max(1, height)
    x0, x1 = sorted((rect[0], rect[2]))
    y0, y1 = sorted((rect[1], rect[3]))
    cx0 = min(cols - 1, max(0, math.floor(x0 * sx)))
    cy0 = min(rows - 1, max(0, math.floor(y0 * sy)))
    cx1 = min(cols, max(cx0 + 1, math.ceil(x1 * sx)))
    cy1 = min(rows, max(cy0 + 1, math.ceil(y1 * sy)))
    return cy0, cx0, cy1, cx1


def cells_to_display(cells: tuple[int, int, int, int], display_size: tuple[int, int],
                     map_size: tuple[int, int]) -> Box:
    """The display rectangle (x0, y0, x1, y1) of output cells (y0, x0, y1, x1)."""
    height, width = display_size
    rows, cols = map_size
    y0, x0, y1, x1 = cells
    return x0 * width / cols, y0 * height / rows, x1 * width / cols, y1 * height / rows
