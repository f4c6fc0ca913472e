"""Dense detection heads split per scale with a distribution-focal box encoding.

PicoDet / NanoDet / YOLOv8-DFL exports without post-processing give, per
stride s (8/16/32/64), a class-score output [1, N_s, C] and a box output
[1, N_s, 4*(R+1)] where N_s = ceil(H/s)*ceil(W/s): each side's distance to the
cell centre is a distribution over R+1 bins (softmax, expectation, times s).
Outputs concatenated over the scales ([1, N, C] + [1, N, 4*(R+1)]) are
recognised the same way.
"""

from __future__ import annotations

import numpy as np

from engine.heads.boxes import STRIDE_SETS, anchor_grid, as_probability, nms
from engine.heads.types import Head, HeadContext, PredictionItem, Recogniser

CONFIDENCE = 0.3
IOU = 0.5
LIMIT = 100
CELL_OFFSET = 0.5


def _pairs(ctx: HeadContext) -> list[tuple[str, str, int]]:
    """(class output, box output, stride or 0 for all scales) pairs, finest scale first."""
    height, width = ctx.input_size
    per_stride = {-(-height // s) * -(-width // s): s for s in (8, 16, 32, 64)}
    totals = {sum(-(-height // s) * -(-width // s) for s in strides): 0
              for strides in STRIDE_SETS}
    shapes = {n: ctx.values[n].shape for n in ctx.output_names
              if n in ctx.values and ctx.values[n].dtype.kind == "f"
              and ctx.values[n].ndim == 3 and ctx.values[n].shape[0] == 1}
    pairs = []
    for cls_name, cls_shape in shapes.items():
        anchors = int(cls_shape[1])
        stride = per_stride.get(anchors, totals.get(anchors))
        if stride is None:
            continue
        for box_name, box_shape in shapes.items():
            bins = int(box_shape[2])
            if box_name != cls_name and int(box_shape[1]) == anchors and bins % 4 == 0 and \
                    bins >= 8 and bins != int(cls_shape[2]):
                pairs.append((cls_name, box_name, stride))
                break
    return sorted(pairs, key=lambda p: (p[2] == 0, p[2]))


def recognise(ctx: HeadContext) -> Head | None:
    """Class/box output pairs whose anchor counts match the input at the usual strides."""
    pairs = _pairs(ctx)
    if not pairs:
        return None
    names = tuple(n for pair in pairs for n in pair[:2])
    first_cls, first_box, stride = pairs[0]
    classes = int(ctx.values[first_cls].shape[2])
    bins = int(ctx.values[first_box].shape[2]) // 4
    scales = "/".join(str(p[2]) for p in pairs) if stride else "all scales"
    return Head("dense-detection", first_cls,
                f"{len(pairs)} class/box output pairs (strides {scales}): {classes} classes, "
                f"boxes as distributions over {bins} bins (distribution-focal)",
                outputs=names, stride=stride or 8)


def _distances(box: np.ndarray) -> np.ndarray:
    bins = box.shape[1] // 4
    logits = box.reshape(-1, 4, bins)
    logits = logits - logits.max(axis=2, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=2, keepdims=True)
    result: np.ndarray = (weights * np.arange(bins)).sum(axis=2)
    return result


def decode(ctx: HeadContext, head: Head) -> tuple[PredictionItem, ...]:
    """Boxes from the distance distributions, per-class NMS, best first."""
    height, width = ctx.input_size
    all_boxes: list[np.ndarray] = []
    all_scores: list[np.ndarray] = []
    all_classes: list[np.ndarray] = []
    all_targets: list[str] = []
    all_strides: list[np.ndarray] = []
    for cls_name, box_name, stride in _pairs(ctx):
        cls = as_probability(np.asarray(ctx.values[cls_name], dtype=np.float64)[0])
        dist = _distances(np.asarray(ctx.values[box_name], dtype=np.float64)[0])
        strides = (stride,) if stride else next(
            s for s in STRIDE_SETS if sum(-(-height // t) * -(-width // t) for t in s)
            == cls.shape[0])
        centres, steps = anchor_grid(height, width, strides)
        centres = centres - (0.5 - CELL_OFFSET) * steps[:, None]
        d = dist * steps[:, None]
        boxes = np.stack([centres[:, 0] - d[:, 0], centres[:, 1] - d[:, 1],
                          centres[:, 0] + d[:, 2], centres[:, 1] + d[:, 3]], axis=1)
        best = np.argmax(cls, axis=1)
        scores = cls[np.arange(len(best)), best]
        all_boxes.append(boxes)
        all_scores.append(scores)
        all_classes.append(best)
        all_strides.append(steps)
        all_targets.extend(f"{cls_name}:{a},{int(c)}" for a, c in enumerate(best))
    boxes = np.concatenate(all_boxes)
    scores = np.concatenate(all_scores)
    classes = np.concatenate(all_classes)
    anchor_strides = np.concatenate(all_strides)
    keep = np.flatnonzero(scores >= CONFIDENCE)
    chosen = keep[nms(boxes[keep], scores[keep], classes[keep], IOU, LIMIT)]
    items = []
    for index in chosen:
        x0, y0, x1, y1 = (float(v) for v in boxes[index])
        items.append(PredictionItem(
            label=ctx.label(int(classes[index])), score=float(scores[index]),
            class_index=int(classes[index]), target=all_targets[index],
            stride=int(anchor_strides[index]),
            box=ctx.box((max(0.0, x0), max(0.0, y0), min(float(width), x1),
                         min(float(height), y1)))))
    return tuple(items)


RECOGNISER = Recogniser("dense-detection", recognise, decode)
