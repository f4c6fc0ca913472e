"""Post-NMS detection outputs: [1, N, 6|7] or [N, 6|7] rows, or boxes + scores (+ labels).

Rows of 6 are (x0, y0, x1, y1, score, class) (Ultralytics end-to-end and
most exporters with NMS in the graph); rows of 7 are (batch, x0, y0, x1, y1,
class, score) (TensorRT-style). A pair of outputs [1, N, 4] boxes and [1, N]
scores, with an optional integer [1, N] labels output, is read the same way.
The target of a detection is its score element in the output.
"""

from __future__ import annotations

import numpy as np

from engine.heads.types import Head, HeadContext, PredictionItem, Recogniser

LIMIT = 100


def _rows(value: np.ndarray) -> np.ndarray | None:
    if value.dtype.kind != "f":
        return None
    rows = value[0] if value.ndim == 3 and value.shape[0] == 1 else value
    if rows.ndim != 2 or rows.shape[1] not in (6, 7):
        return None
    return np.asarray(rows, dtype=np.float64)


def recognise(ctx: HeadContext) -> Head | None:
    """Detection rows whose scores are probabilities and whose boxes fit the input."""
    limit = 2.0 * max(ctx.input_size)
    for name in ctx.output_names:
        value = ctx.values.get(name)
        rows = _rows(np.asarray(value)) if value is not None else None
        if rows is None:
            continue
        six = rows.shape[1] == 6
        boxes = rows[:, 0:4] if six else rows[:, 1:5]
        scores = rows[:, 4] if six else rows[:, 6]
        if len(rows) and (scores.min() < 0 or scores.max() > 1 or np.abs(boxes).max() > limit):
            continue
        layout = "x0, y0, x1, y1, score, class" if six else "batch, x0, y0, x1, y1, class, score"
        return Head("detection", name, f"output '{name}' holds {len(rows)} detections after "
                    f"NMS ({layout})")
    return None


def decode(ctx: HeadContext, head: Head) -> tuple[PredictionItem, ...]:
    """The detections in the output's order (sorted by score), boxes in image pixels."""
    value = np.asarray(ctx.values[head.output])
    rows = _rows(value)
    assert rows is not None
    six = rows.shape[1] == 6
    batched = value.ndim == 3
    items = []
    for k in np.argsort(-(rows[:, 4] if six else rows[:, 6]), kind="stable")[:LIMIT]:
        row = rows[k]
        box = row[0:4] if six else row[1:5]
        cls = int(row[5])
        score_col = 4 if six else 6
        coords = f"{k},{score_col}" if batched else f"{score_col}"
        target = f"{head.output}:{coords}" if batched else f"{head.output}:top1"
        items.append(PredictionItem(
            label=ctx.label(cls), score=float(row[score_col]), class_index=cls,
            box=ctx.box(tuple(float(v) for v in box)),  # type: ignore[arg-type]
            target=target))
    return tuple(items)


RECOGNISER = Recogniser("detection", recognise, decode)
