"""Detection vectors of a batch: every proposal's box, class probabilities and objectness.

D-RISE compares the target detection with every proposal of a masked image;
these functions read proposals from the detection heads' raw outputs for a
whole batch, in the model input's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from engine.heads.boxes import (
    STRIDE_SETS,
    anchor_count,
    anchor_grid,
    as_probability,
)
from engine.heads.split_dfl import CELL_OFFSET, _distances
from engine.heads.types import Head
from engine.heads.yolo import decode_boxes


@dataclass(frozen=True)
class Proposals:
    """Per batch item: boxes [B, N, 4] (x0, y0, x1, y1), classes [B, N, C], objectness [B, N].

    Anchor-free heads (YOLOv8, distribution-focal heads) have no objectness
    output; their best class probability stands in for it, as D-RISE
    implementations for anchor-free detectors do.
    """

    boxes: np.ndarray
    classes: np.ndarray
    objectness: np.ndarray


def _yolo(value: np.ndarray, head: Head, size: tuple[int, int]) -> Proposals:
    counts = {anchor_count(size[0], size[1], s) for s in STRIDE_SETS}
    last = value.shape[2] in counts and value.shape[1] < value.shape[2]
    rows = np.transpose(value, (0, 2, 1)) if last else value
    boxes = decode_boxes(rows, size)
    if "YOLOv5" in head.reason or "YOLOX" in head.reason:
        return Proposals(boxes, as_probability(rows[..., 5:]), as_probability(rows[..., 4]))
    classes = as_probability(rows[..., 4:])
    return Proposals(boxes, classes, classes.max(axis=-1))  # anchor-free: best class score


def _split(values: dict[str, np.ndarray], head: Head, size: tuple[int, int]) -> Proposals:
    boxes, classes = [], []
    pairs = list(zip(head.outputs[::2], head.outputs[1::2], strict=True))
    height, width = size
    for cls_name, box_name in pairs:
        cls = as_probability(np.asarray(values[cls_name], dtype=np.float64))
        batch, anchors = cls.shape[:2]
        stride = next((s for s in (8, 16, 32, 64) if -(-height // s) * -(-width // s)
                       == anchors), 0)
        strides = (stride,) if stride else next(
            s for s in STRIDE_SETS if anchor_count(height, width, s) == anchors)
        centres, steps = anchor_grid(height, width, strides)
        centres = centres - (0.5 - CELL_OFFSET) * steps[:, None]
        raw = np.asarray(values[box_name], dtype=np.float64)
        dist = _distances(raw.reshape(batch * anchors, -1)).reshape(batch, anchors, 4)
        d = dist * steps[None, :, None]
        boxes.append(np.stack([centres[None, :, 0] - d[..., 0], centres[None, :, 1] - d[..., 1],
                               centres[None, :, 0] + d[..., 2], centres[None, :, 1] + d[..., 3]],
                              axis=2))
        classes.append(cls)
    all_classes = np.concatenate(classes, axis=1)
    return Proposals(np.concatenate(boxes, axis=1), all_classes, all_classes.max(axis=-1))


def _rows(value: np.ndarray) -> Proposals:
    rows = value if value.ndim == 3 else value[None]
    six = rows.shape[2] == 6
    boxes = rows[..., 0:4] if six else rows[..., 1:5]
    score = rows[..., 4] if six else rows[..., 6]
    cls = np.clip(rows[..., 5], 0, None).astype(np.int64)  # the class column in both layouts
    classes = np.zeros((*cls.shape, int(cls.max(initial=0)) + 1))
    np.put_along_axis(classes, cls[..., None], 1.0, axis=2)
    return Proposals(boxes.astype(np.float64), classes, score.astype(np.float64))


def proposals(values: dict[str, np.ndarray], head: Head, size: tuple[int, int]) -> Proposals:
    """Every proposal of a batch of outputs of a detection head.

    Raises
    ------
    InputError
        The head is not a detection head.
    """
    if head.kind == "dense-detection" and head.outputs:
        return _split(values, head, size)
    if head.kind == "dense-detection":
        return _yolo(np.asarray(values[head.output], dtype=np.float64), head, size)
    if head.kind == "detection":
        return _rows(np.asarray(values[head.output], dtype=np.float64))
    raise InputError(f"D-RISE explains detections; this model's head is a {head.kind} head.")


def target_proposal(head: Head, output: str, flat_index: int,
                    values: dict[str, np.ndarray], size: tuple[int, int]) -> int:
    """The proposal index that a detection target (an element of ``output``) refers to.

    Raises
    ------
    InputError
        The target's output is not one the head reads.
    """
    shape = tuple(int(d) for d in values[output].shape)
    coords = np.unravel_index(flat_index, shape[1:])
    if head.kind == "dense-detection" and head.outputs:
        offset = 0
        for cls_name in head.outputs[::2]:
            if cls_name == output:
                return offset + int(coords[0])
            offset += int(values[cls_name].shape[1])
        raise InputError(f"The target's output '{output}' is not a class output of the head.")
    if head.kind == "dense-detection":
        counts = {anchor_count(size[0], size[1], s) for s in STRIDE_SETS}
        last = shape[2] in counts and shape[1] < shape[2]
        return int(coords[1] if last else coords[0])
    return int(coords[0])
