"""Dense maps: text-probability, segmentation and score maps ([1, C, H', W'] or channels last).

One probability channel: for a PaddleOCR text detector's shrunk text map, text
regions as DBNet's post-processing finds them (:mod:`engine.heads.text_regions`);
otherwise (a salient-object or matting map) connected regions above 0.5. Two
channels summing to one (background, foreground: a face-probability map):
the foreground's connected regions above 0.3.
Several channels that sum to one per pixel (segmentation): each class present
becomes a box around its pixels, scored by its share of the image. Otherwise
each channel's maximum.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.heads.text_regions import text_regions
from engine.heads.types import Head, HeadContext, PredictionItem, Recogniser

THRESHOLD = 0.3
MIN_AREA = 3
LIMIT = 100


def _channels_first(value: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """(map as [C, H', W'], channels last?) for a map-like batch-1 output, or None."""
    if value.ndim == 3:
        return value[:1].astype(np.float64), False
    if value.ndim != 4:
        return None
    c_first, c_last = int(value.shape[1]), int(value.shape[3])
    if c_last <= 4 < min(int(value.shape[1]), int(value.shape[2])):
        return np.transpose(value[0], (2, 0, 1)).astype(np.float64), True
    del c_first
    return value[0].astype(np.float64), False


def _is_probability(maps: np.ndarray) -> bool:
    return bool(maps.size and maps.min() >= -1e-6 and maps.max() <= 1 + 1e-6)


def _sums_to_one(maps: np.ndarray) -> bool:
    return maps.shape[0] > 1 and bool(np.allclose(maps.sum(axis=0), 1.0, atol=1e-3))


def recognise(ctx: HeadContext) -> Head | None:
    """A float map output with a spatial size above 1x1; probability maps preferred."""
    candidates = []
    for name in ctx.output_names:
        value = ctx.values.get(name)
        if value is None or value.dtype.kind != "f" or value.ndim not in (3, 4):
            continue
        found = _channels_first(np.asarray(value))
        if found is None:
            continue
        maps, last = found
        if min(maps.shape[1:]) < 2 or maps.shape[0] > 1024:
            continue
        probability = _is_probability(maps) or _sums_to_one(maps)
        candidates.append((not probability, name, maps.shape, last))
    if not candidates:
        return None
    _, name, shape, last = min(candidates, key=lambda c: c[0])
    stride = max(1, round(ctx.input_size[0] / shape[1]))
    layout = "channels last" if last else "channels first"
    return Head("map", name, f"output '{name}' is a {shape[0]}-channel {shape[1]}x{shape[2]} "
                f"map ({layout}, stride {stride})", stride=stride)


def _cell_box(ctx: HeadContext, maps: np.ndarray, box: tuple[float, float, float, float]
              ) -> tuple[float, float, float, float]:
    sy = ctx.input_size[0] / maps.shape[1]
    sx = ctx.input_size[1] / maps.shape[2]
    return ctx.box((box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy))


def _target(head: Head, last: bool, channel: int, cells: tuple[int, int, int, int],
            peak: tuple[int, int]) -> str:
    if last:  # channels-last maps: the peak element (y, x, c)
        return f"{head.output}:{peak[0]},{peak[1]},{channel}"
    y0, x0, y1, x1 = cells
    return f"{head.output}:{channel}@{y0},{x0},{y1},{x1}"


def _text_detector(ctx: HeadContext) -> bool:
    """A PaddleOCR DBNet export (paddle2onnx names its dims ``p2o.*``/``DynamicDimension.*``)."""
    dims = [d for tensor in ctx.info.inputs for d in tensor.shape if isinstance(d, str)]
    return "paddle" in ctx.info.producer_name.lower() or any(
        d.startswith(("p2o.", "DynamicDimension")) for d in dims)


def _regions(ctx: HeadContext, head: Head, maps: np.ndarray, channel: int, last: bool,
             label: str, threshold: float = THRESHOLD) -> list[PredictionItem]:
    prob = maps[channel]
    mask = (prob > threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    items = []
    for index in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[index])
        if area < MIN_AREA:
            continue
        inside = labels == index
        score = float(prob[inside].mean())
        box = (float(x), float(y), float(x + bw), float(y + bh))
        ys, xs = np.nonzero(inside)
        peak = int(np.argmax(prob[ys, xs]))
        items.append(PredictionItem(
            label=label, score=score, box=_cell_box(ctx, maps, box), class_index=channel,
            stride=head.stride,
            target=_target(head, last, channel, (y, x, y + bh, x + bw),
                           (int(ys[peak]), int(xs[peak])))))
    # the most prominent regions first: confident and large
    items.sort(key=lambda item: -item.score * _area(item.box))
    return items[:LIMIT]


def _area(box: tuple[float, float, float, float] | None) -> float:
    return 0.0 if box is None else max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def decode(ctx: HeadContext, head: Head) -> tuple[PredictionItem, ...]:
    """Regions of a probability map, classes of a segmentation, or per-channel peaks."""
    value = np.asarray(ctx.values[head.output])
    found = _channels_first(value)
    assert found is not None
    maps, last = found
    if maps.shape[0] == 1 and _is_probability(maps) and not _text_detector(ctx):
        return tuple(_regions(ctx, head, maps, 0, last, ctx.label(0) if ctx.labels
                              else "region", threshold=0.5))
    if maps.shape[0] == 1 and _is_probability(maps):
        label = ctx.label(0) if ctx.labels else "text region"
        return tuple(PredictionItem(
            label=label, score=region.score, box=_cell_box(ctx, maps, region.box),
            class_index=0, stride=head.stride,
            target=_target(head, last, 0, region.cells, region.peak))
            for region in text_regions(maps[0])[:LIMIT])
    if maps.shape[0] == 2 and _sums_to_one(maps):  # background / foreground
        return tuple(_regions(ctx, head, maps, 1, last, ctx.label(1) if ctx.labels
                              else "foreground"))
    items = []
    if _sums_to_one(maps):
        classes = np.argmax(maps, axis=0)
        counts = np.bincount(classes.ravel(), minlength=maps.shape[0])
        for channel in (int(c) for c in np.argsort(-counts)):
            ys, xs = np.nonzero(classes == channel)
            if not len(ys):
                break
            cells = (int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1)
            peak = int(np.argmax(maps[channel][ys, xs]))
            items.append(PredictionItem(
                label=ctx.label(int(channel)), score=len(ys) / classes.size,
                class_index=int(channel),
                box=_cell_box(ctx, maps, (cells[1], cells[0], cells[3], cells[2])),
                target=_target(head, last, int(channel), cells,
                               (int(ys[peak]), int(xs[peak])))))
        return tuple(items[:LIMIT])
    for index in range(min(maps.shape[0], LIMIT)):
        channel = int(index)
        y, x = np.unravel_index(int(np.argmax(maps[channel])), maps[channel].shape)
        sy = ctx.input_size[0] / maps.shape[1]
        sx = ctx.input_size[1] / maps.shape[2]
        items.append(PredictionItem(
            label=ctx.label(channel) if ctx.labels else f"channel {channel}",
            score=float(maps[channel, y, x]), class_index=channel,
            point=ctx.point((x + 0.5) * sx, (y + 0.5) * sy),
            target=_target(head, last, channel, (int(y), int(x), int(y) + 1, int(x) + 1),
                           (int(y), int(x)))))
    items.sort(key=lambda item: -item.score)
    return tuple(items)


RECOGNISER = Recogniser("map", recognise, decode)
