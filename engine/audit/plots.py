"""Static curve plots as PNG, drawn with OpenCV.

The engine must not import Qt (pyqtgraph's exporters need it) and carries no
plotting library; OpenCV is already a dependency and draws lines and text, which
is all a metric curve needs. Axes: x in [0, 1], y from the data's range.
"""

from __future__ import annotations

import cv2
import numpy as np

WIDTH, HEIGHT = 480, 320
MARGIN = 48
COLOURS = ((200, 80, 30), (40, 140, 40), (30, 30, 200), (150, 60, 150))  # BGR


def curve_plot(curves: dict[str, np.ndarray], title: str) -> np.ndarray:
    """An RGB uint8 image of the curves (name -> y values over evenly spaced x)."""
    image = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    values = np.concatenate([np.asarray(v, np.float64) for v in curves.values()]) \
        if curves else np.zeros(1)
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    left, right, top, bottom = MARGIN, WIDTH - 16, 32, HEIGHT - MARGIN

    def point(x: float, y: float) -> tuple[int, int]:
        return (round(left + x * (right - left)),
                round(bottom - (y - low) / (high - low) * (bottom - top)))

    cv2.rectangle(image, (left, top), (right, bottom), (0, 0, 0), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for frac in (0.0, 0.5, 1.0):
        x_pos = point(frac, low)[0]
        cv2.putText(image, f"{frac:g}", (x_pos - 8, bottom + 18), font, 0.4, (0, 0, 0), 1)
        y_value = low + frac * (high - low)
        cv2.putText(image, f"{y_value:.3g}", (4, point(0, y_value)[1] + 4), font, 0.4,
                    (0, 0, 0), 1)
    cv2.putText(image, title, (left, 20), font, 0.5, (0, 0, 0), 1)
    cv2.putText(image, "fraction of pixels changed", (left + 100, HEIGHT - 8), font, 0.4,
                (0, 0, 0), 1)
    for index, (name, ys) in enumerate(curves.items()):
        colour = COLOURS[index % len(COLOURS)]
        ys = np.asarray(ys, np.float64)
        xs = np.linspace(0.0, 1.0, len(ys))
        points = np.array([point(float(x), float(y)) for x, y in zip(xs, ys, strict=True)],
                          np.int32)
        cv2.polylines(image, [points], False, colour, 2, lineType=cv2.LINE_AA)
        cv2.putText(image, name, (right - 110, top + 18 + 16 * index), font, 0.45, colour, 1)
    rgb: np.ndarray = image[:, :, ::-1].copy()
    return rgb
