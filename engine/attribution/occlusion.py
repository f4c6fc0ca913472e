"""Occlusion with Captum's semantics, fused into the graph or with numpy masks.

Windows (h, w) start at 0 and move by the stride until the dimension is
covered: ``ceil((D - w) / s) + 1`` positions per dimension, the last window
cut off at the edge. A pixel's attribution is the mean, over the windows
covering it, of (score of the original - score with the window replaced by
the baseline). All channels of a window are occluded together.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from engine.attribution.common import MethodOutput, baseline_tensor, pair, spatial
from engine.attribution.context import Context
from engine.graph.fuse import BASELINE, BOXES, IMAGE, occlusion_graph


def positions(size: int, window: int, stride: int) -> int:
    """Number of window positions along one dimension (Captum's shift count)."""
    window = min(window, size)
    return math.ceil((size - window) / stride) + 1


def window_boxes(height: int, width: int, window: tuple[int, int], stride: tuple[int, int]
                 ) -> np.ndarray:
    """All windows as int64 (y0, x0, y1, x1), rows first."""
    rows = positions(height, window[0], stride[0])
    cols = positions(width, window[1], stride[1])
    boxes = np.empty((rows * cols, 4), dtype=np.int64)
    k = 0
    for i in range(rows):
        y0 = i * stride[0]
        for j in range(cols):
            x0 = j * stride[1]
            boxes[k] = (y0, x0, min(y0 + window[0], height), min(x0 + window[1], width))
            k += 1
    return boxes


def count_passes(height: int, width: int, window: object, stride: object) -> int:
    """Forward passes occlusion needs for this input size, window and stride."""
    w, s = pair(window, "window"), pair(stride, "stride")
    return positions(height, w[0], s[0]) * positions(width, w[1], s[1])


def accumulate(boxes: np.ndarray, deltas: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mean over covering windows of each window's score drop."""
    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.float64)
    for (y0, x0, y1, x1), delta in zip(boxes, deltas, strict=True):
        total[y0:y1, x0:x1] += delta
        count[y0:y1, x0:x1] += 1.0
    return np.where(count > 0, total / np.maximum(count, 1.0), 0.0)


def _scorer(ctx: Context, image: np.ndarray, base: np.ndarray, fused: bool
            ) -> tuple[Callable[[np.ndarray, str], tuple[np.ndarray, int]], str]:
    """A function scoring a set of boxes (fused graph or numpy masks) and its path name."""
    geo = ctx.geometry
    if fused and ctx.can_fuse():
        session = ctx.fused_session("occlusion", lambda proto, elem, nodes: occlusion_graph(
            proto, ctx.main_input, geo, ctx.target.output, elem, nodes))

        def fused_scores(boxes: np.ndarray, message: str) -> tuple[np.ndarray, int]:
            scores, _, size = ctx.fused_scores(session, len(boxes),
                                               lambda idx: {BOXES: boxes[idx]}, message=message,
                                               constants={IMAGE: image, BASELINE: base})
            return scores, size

        return fused_scores, "fused"
    chw, base_chw = spatial(image, geo), spatial(base, geo)

    def plain_scores(boxes: np.ndarray, message: str) -> tuple[np.ndarray, int]:
        def make(idx: np.ndarray) -> np.ndarray:
            batch = np.repeat(chw[None], len(idx), axis=0)
            for item, (y0, x0, y1, x1) in enumerate(boxes[idx]):
                batch[item, :, y0:y1, x0:x1] = base_chw[:, y0:y1, x0:x1]
            return batch if geo.layout == "NCHW" else np.transpose(batch, (0, 2, 3, 1))

        scores, _, size = ctx.plain_scores(len(boxes), make, message=message)
        return scores, size

    return plain_scores, "numpy"


def run(ctx: Context, window: object = (16, 16), stride: object = (8, 8),
        baseline: object = "0", fused: bool = True, refine: bool = False,
        coarse_step: int = 2, keep_fraction: float = 0.25, compare: bool = False
        ) -> MethodOutput:
    """Occlude every window position and measure the target's drop.

    Parameters
    ----------
    ctx
        The prepared model, input and target.
    window, stride
        Window size and stride in input pixels, ``(h, w)`` or one number.
    baseline
        ``0``, a number, ``mean`` or ``blur`` (in the units of the model's input tensor).
    fused
        Build the occluded inputs inside the graph (else in numpy).
    refine
        Coarse-to-fine (:mod:`engine.attribution.refine`): a pass over every
        ``coarse_step``-th window position, then ``keep_fraction`` of the other
        windows, those where the interpolated coarse map is strongest.
    compare
        With ``refine``: also score the remaining fine windows and report the
        refined map's correlation with the full fine map (``stats["agreement"]``).
    """
    geo = ctx.geometry
    win, step = pair(window, "window"), pair(stride, "stride")
    boxes = window_boxes(geo.height, geo.width, win, step)
    image = ctx.image()
    base, base_text = baseline_tensor(image, geo, baseline, win)
    notes: list[str] = [f"baseline {base_text}"]
    score, path = _scorer(ctx, image, base, fused)
    if refine:
        from engine.attribution.refine import coarse_to_fine

        grid = (positions(geo.height, win[0], step[0]), positions(geo.width, win[1], step[1]))
        heatmap, passes, size, stats, more = coarse_to_fine(
            ctx, score, boxes, grid, coarse_step, keep_fraction, compare)
        notes.extend(more)
    else:
        scores, size = score(boxes, "occlusion")
        heatmap = accumulate(boxes, ctx.target_score - scores, geo.height, geo.width)
        passes, stats = len(boxes), {"windows": float(len(boxes))}
    return MethodOutput(heatmap=heatmap.astype(np.float32), forward_passes=passes,
                        batch_size=size, path=path, notes=notes, stats=stats)
