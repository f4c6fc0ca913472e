"""Box arithmetic for detection heads: IoU and greedy non-maximum suppression (numpy)."""

from __future__ import annotations

import numpy as np


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each row of ``boxes`` (N, 4)."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    result: np.ndarray = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return result


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, threshold: float = 0.45,
        limit: int = 100) -> np.ndarray:
    """Indices kept by per-class greedy NMS, best score first (ties by index)."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    kept: list[int] = []
    suppressed = np.zeros(len(scores), dtype=bool)
    for position, index in enumerate(order):
        if suppressed[index]:
            continue
        kept.append(int(index))
        if len(kept) >= limit:
            break
        rest = order[position + 1:]
        same = rest[classes[rest] == classes[index]]
        if len(same):
            overlap = iou(boxes[index], boxes[same])
            suppressed[same[overlap > threshold]] = True
    return np.array(kept, dtype=np.int64)


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(cx, cy, w, h) rows to (x0, y0, x1, y1)."""
    cx, cy, w, h = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    result: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))
    return result


def as_probability(scores: np.ndarray) -> np.ndarray:
    """Scores as they are when already in [0, 1], else through a sigmoid."""
    if scores.size and float(scores.min()) >= 0.0 and float(scores.max()) <= 1.0:
        return scores
    return sigmoid(scores)


def anchor_count(height: int, width: int, strides: tuple[int, ...]) -> int:
    """Anchors of a dense head over these strides: sum of ceil(H/s) * ceil(W/s)."""
    return sum(-(-height // s) * -(-width // s) for s in strides)


def anchor_grid(height: int, width: int, strides: tuple[int, ...]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor, its cell centre (x, y) in input pixels and its stride (flattened per scale)."""
    centres: list[np.ndarray] = []
    steps: list[np.ndarray] = []
    for s in strides:
        rows, cols = -(-height // s), -(-width // s)
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centres.append(np.stack([(xs.ravel() + 0.5) * s, (ys.ravel() + 0.5) * s], axis=1))
        steps.append(np.full(rows * cols, s, dtype=np.float64))
    return np.concatenate(centres), np.concatenate(steps)


#: Stride sets of the dense heads recognised (YOLO P3-P5, P3-P6, PicoDet/NanoDet).
STRIDE_SETS: tuple[tuple[int, ...], ...] = ((8, 16, 32), (8, 16, 32, 64))
