"""Dense detection heads in one tensor (YOLOv5/v8/X layouts), found by anchor arithmetic.

An output of rank 3 with an anchor axis whose length is the sum over strides
8/16/32(/64) of ceil(H/s)*ceil(W/s) for the model input's (H, W), and a
feature axis of 4+C (YOLOv8: cx, cy, w, h, class scores) or 5+C (YOLOv5/X:
cx, cy, w, h, objectness, class scores), in either order ([1, 4+C, N] or
[1, N, 5+C]). Boxes are decoded in input pixels, filtered at a confidence of
0.25 and suppressed per class (IoU 0.45), as Ultralytics' predictors do.
"""

from __future__ import annotations

import numpy as np

from engine.heads.boxes import (
    STRIDE_SETS,
    anchor_count,
    anchor_grid,
    as_probability,
    cxcywh_to_xyxy,
    nms,
)
from engine.heads.types import Head, HeadContext, PredictionItem, Recogniser

CONFIDENCE = 0.25
#: Box columns below this (in absolute value) are YOLOX's raw cell offsets.
RAW_OFFSET_LIMIT = 16.0
IOU = 0.45
LIMIT = 100


def _layout(shape: tuple[int, ...], anchors: set[int]) -> tuple[bool, int] | None:
    """(anchors last?, features) for a [1, A, F] or [1, F, A] shape, or None."""
    if len(shape) != 3:
        return None
    if shape[2] in anchors and shape[1] >= 5 and shape[1] < shape[2]:
        return True, shape[1]
    if shape[1] in anchors and shape[2] >= 5 and shape[2] < shape[1]:
        return False, shape[2]
    return None


def raw_offsets(rows: np.ndarray) -> bool:
    """Whether box columns are YOLOX's raw grid offsets (small numbers), not pixels."""
    return bool(rows.size and float(np.abs(rows[..., :2]).max()) < RAW_OFFSET_LIMIT)


def decode_boxes(rows: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(x0, y0, x1, y1) in input pixels from rows [..., N, 4+] of cx, cy, w, h.

    YOLOX exports without decoding give (x, y) offsets in cells and log sizes:
    cx = (x + column) * s, w = exp(w) * s over the strides' grids.
    """
    boxes = np.asarray(rows[..., :4], dtype=np.float64)
    if raw_offsets(rows):
        height, width = size
        anchors = rows.shape[-2]
        strides = next(st for st in STRIDE_SETS if anchor_count(height, width, st) == anchors)
        centres, steps = anchor_grid(height, width, strides)
        cells = centres / steps[:, None] - 0.5
        cx = (boxes[..., 0] + cells[:, 0]) * steps
        cy = (boxes[..., 1] + cells[:, 1]) * steps
        w = np.exp(np.clip(boxes[..., 2], -20, 20)) * steps
        h = np.exp(np.clip(boxes[..., 3], -20, 20)) * steps
        boxes = np.stack([cx, cy, w, h], axis=-1)
    flat = cxcywh_to_xyxy(boxes.reshape(-1, 4))
    result: np.ndarray = flat.reshape(boxes.shape)
    return result


def recognise(ctx: HeadContext) -> Head | None:
    """An output whose anchor axis matches the input size over a YOLO stride set."""
    height, width = ctx.input_size
    counts = {anchor_count(height, width, strides): strides for strides in STRIDE_SETS}
    for name in ctx.output_names:
        value = ctx.values.get(name)
        if value is None or value.dtype.kind != "f":
            continue
        found = _layout(tuple(int(d) for d in value.shape), set(counts))
        if found is None:
            continue
        last, features = found
        anchors = value.shape[2] if last else value.shape[1]
        strides = counts[anchors]
        classes = features - 4
        style = "YOLOv8" if last else "YOLOv5"
        if ctx.labels and len(ctx.labels) in (features - 4, features - 5):
            classes = len(ctx.labels)
            style = "YOLOv8" if classes == features - 4 else "YOLOv5"
        elif not last:
            classes = features - 5
        layout = f"[1, {features}, {anchors}]" if last else f"[1, {anchors}, {features}]"
        rows = value[0].T if last else value[0]
        if raw_offsets(rows):
            style = "YOLOX: raw grid offsets decoded here, objectness"
        return Head("dense-detection", name,
                    f"output '{name}' {layout}: {anchors} anchors = strides "
                    f"{'/'.join(map(str, strides))} over {height}x{width}, {classes} classes "
                    f"({style} layout)", stride=strides[0])
    return None


def decode(ctx: HeadContext, head: Head) -> tuple[PredictionItem, ...]:
    """Boxes above the confidence, per-class NMS, best first; targets are class elements."""
    value = np.asarray(ctx.values[head.output], dtype=np.float64)[0]
    height, width = ctx.input_size
    counts = {anchor_count(height, width, s) for s in STRIDE_SETS}
    last = value.shape[1] in counts and value.shape[0] < value.shape[1]
    rows = value.T if last else value
    features = rows.shape[1]
    v5 = "YOLOv5" in head.reason or "YOLOX" in head.reason
    boxes = decode_boxes(rows, ctx.input_size)
    if v5:
        classes = as_probability(rows[:, 5:]) * as_probability(rows[:, 4:5])
        offset = 5
    else:
        classes = as_probability(rows[:, 4:])
        offset = 4
    best = np.argmax(classes, axis=1)
    scores = classes[np.arange(len(best)), best]
    keep = np.flatnonzero(scores >= CONFIDENCE)
    chosen = keep[nms(boxes[keep], scores[keep], best[keep], IOU, LIMIT)]
    strides = next(st for st in STRIDE_SETS if anchor_count(height, width, st) == len(rows))
    _, anchor_strides = anchor_grid(height, width, strides)
    items = []
    for anchor in chosen:
        cls = int(best[anchor])
        coords = f"{offset + cls},{anchor}" if last else f"{anchor},{offset + cls}"
        x0, y0, x1, y1 = (float(v) for v in boxes[anchor])
        items.append(PredictionItem(
            label=ctx.label(cls), score=float(scores[anchor]), class_index=cls,
            stride=int(anchor_strides[anchor]),
            box=ctx.box((max(0.0, x0), max(0.0, y0), min(float(width), x1),
                         min(float(height), y1))),
            target=f"{head.output}:{coords}"))
    del features
    return tuple(items)


RECOGNISER = Recogniser("dense-detection", recognise, decode)
