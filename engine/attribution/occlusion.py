"""Occlusion with Captum's semantics, fused into the graph or with numpy masks.

Windows (h, w) start at 0 and move by the stride until the dimension is
covered (:mod:`engine.attribution.windows`). A pixel's attribution is the mean,
over the windows covering it, of (score of the original - score with the
window replaced by the baseline). All channels of a window are occluded together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.attribution.context import Context
from engine.attribution.fused_graphs import BASELINE, BOXES, IMAGE, occlusion_graph
from engine.attribution.image_tensors import baseline_tensor, spatial
from engine.attribution.method_spec import Method, MethodOutput, PassQuery, fused_param, param
from engine.attribution.refine import coarse_to_fine, count_refined_passes
from engine.attribution.windows import ScoreBoxes, accumulate, count_passes, positions, window_boxes
from engine.cancellation import CancelToken, ProgressCallback


@dataclass(frozen=True)
class OcclusionParams:
    """Occlusion's parameters."""

    window: tuple[int, int] = param(
        (16, 16), "pair", "window height, width in input pixels", low=1,
        effect="larger windows: a coarser map and fewer passes")
    stride: tuple[int, int] = param(
        (8, 8), "pair", "step between window positions in input pixels", low=1,
        effect="a smaller stride: a finer map and many more passes")
    baseline: str = param("0", "text", "what replaces the occluded pixels: 0, a number, mean "
                          "(the image's channel means) or blur")
    fused: bool = fused_param()
    refine: bool = param(False, "bool", "coarse-to-fine: a coarse pass, then fine windows only "
                         "where the coarse map is strongest", effect="far fewer passes")
    coarse_step: int = param(2, "int", "coarse-to-fine: the coarse pass uses this many times "
                             "the stride", low=2, high=16)
    keep_fraction: float = param(0.25, "float", "coarse-to-fine: share of the other windows "
                                 "scored, where the coarse map is strongest", low=0.0, high=1.0,
                                 effect="higher: closer to the full map, more passes")
    compare: bool = param(False, "bool", "coarse-to-fine: also compute the full fine map and "
                          "report the agreement (costs the skipped passes)")


def _scorer(ctx: Context, image: np.ndarray, base: np.ndarray, fused: bool
            ) -> tuple[ScoreBoxes, str]:
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


def run(ctx: Context, params: OcclusionParams, progress: ProgressCallback,
        cancel: CancelToken) -> MethodOutput:
    """Occlude every window position and measure the target's drop.

    Parameters
    ----------
    ctx
        The prepared model, input and target.
    params
        Window and stride in input pixels; the baseline (in the units of the
        model's input tensor); ``fused`` builds the occluded inputs in the
        graph; ``refine`` runs coarse-to-fine (:mod:`engine.attribution.refine`),
        ``compare`` also scores the skipped windows to report the agreement.
    progress, cancel
        Progress between batches; cancellation (the context's own).
    """
    del progress, cancel  # the context's batch loops report and check them
    geo = ctx.geometry
    win, step = params.window, params.stride
    boxes = window_boxes(geo.height, geo.width, win, step)
    image = ctx.image()
    base, base_text = baseline_tensor(image, geo, params.baseline, win)
    notes: list[str] = [f"baseline {base_text}"]
    score, path = _scorer(ctx, image, base, params.fused)
    if params.refine:
        grid = (positions(geo.height, win[0], step[0]), positions(geo.width, win[1], step[1]))
        heatmap, passes, size, stats, more = coarse_to_fine(
            ctx, score, boxes, grid, params.coarse_step, params.keep_fraction, params.compare)
        notes.extend(more)
    else:
        scores, size = score(boxes, "occlusion")
        heatmap = accumulate(boxes, ctx.target_score - scores, geo.height, geo.width)
        passes, stats = len(boxes), {"windows": float(len(boxes))}
    return MethodOutput(heatmap=heatmap.astype(np.float32), forward_passes=passes,
                        batch_size=size, path=path, notes=notes, stats=stats)


def estimate_passes(query: PassQuery, params: OcclusionParams) -> int:
    """Exact pass count of occlusion, plain or coarse-to-fine."""
    height, width = query.size
    if not params.refine:
        return count_passes(height, width, params.window, params.stride)
    return count_refined_passes(height, width, params.window, params.stride,
                                params.coarse_step, params.keep_fraction, params.compare)


METHOD = Method(
    name="occlusion", title="Occlusion",
    description="Slides a window over the input and measures how much the score drops; one "
    "forward pass per window position.",
    params_type=OcclusionParams, run=run, estimate_passes=estimate_passes)
