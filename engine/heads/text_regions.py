"""Text regions from a one-channel text-probability map, as DBNet's post-processing finds them.

The map is thresholded at 0.3 and dilated (2x2); each contour's minimum-area
rectangle is kept when its short side is at least 3 cells and the mean
probability inside it is at least 0.5; the rectangle is then grown by
``area * 1.6 / perimeter`` on every side (DB's "unclip", PaddleOCR's defaults)
and reported as its axis-aligned bounding box, in map cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

THRESHOLD = 0.3
BOX_THRESHOLD = 0.5
UNCLIP = 1.6
MIN_SIDE = 3
MAX_CANDIDATES = 1000


@dataclass(frozen=True)
class TextRegion:
    """One region: its grown box (x0, y0, x1, y1) and ungrown cell box, score and peak cell."""

    box: tuple[float, float, float, float]
    cells: tuple[int, int, int, int]
    score: float
    peak: tuple[int, int]


def _mean_inside(prob: np.ndarray, points: np.ndarray) -> float:
    """Mean probability inside a polygon (DB's "fast" box score)."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(points[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(points[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(points[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(points[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = (points - np.array([x0, y0])).astype(np.int32)
    cv2.fillPoly(mask, [shifted], 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1].astype(np.float32), mask)[0])


def text_regions(prob: np.ndarray) -> list[TextRegion]:
    """The text regions of a probability map [H', W'], best score first."""
    h, w = prob.shape
    bitmap = cv2.dilate((prob > THRESHOLD).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    regions = []
    for contour in contours[:MAX_CANDIDATES]:
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        if min(rw, rh) < MIN_SIDE:
            continue
        points = cv2.boxPoints(((cx, cy), (rw, rh), angle))
        score = _mean_inside(prob, points)
        if score < BOX_THRESHOLD:
            continue
        grow = rw * rh * UNCLIP / (2.0 * (rw + rh))
        grown = cv2.boxPoints(((cx, cy), (rw + 2 * grow, rh + 2 * grow), angle))
        if min(rw, rh) + 2 * grow < MIN_SIDE + 2:
            continue
        x0, y0 = np.clip(grown.min(axis=0), 0, [w, h])
        x1, y1 = np.clip(grown.max(axis=0), 0, [w, h])
        bx, by, bw, bh = cv2.boundingRect(contour)
        ys, xs = np.nonzero(bitmap[by:by + bh, bx:bx + bw])
        values = prob[by + ys, bx + xs]
        top = int(np.argmax(values))
        regions.append(TextRegion(box=(float(x0), float(y0), float(x1), float(y1)),
                                  cells=(by, bx, by + bh, bx + bw), score=score,
                                  peak=(int(by + ys[top]), int(bx + xs[top]))))
    regions.sort(key=lambda region: -region.score)
    return regions
