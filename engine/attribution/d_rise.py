"""D-RISE: RISE for object detectors (Petsiuk et al., CVPR 2021, arXiv:2006.03204).

The target is one detection (a box, a class-probability vector and an
objectness). Each random mask (the same seeded masks as RISE) is scored by the
best similarity between the target and any proposal of the detector on the
masked image: IoU(boxes) x cosine(class-probability vectors) x objectness.
saliency = sum_i similarity_i * M_i / (N * p). Proposals are read from the
head's raw outputs (:mod:`engine.heads.vectors`): dense YOLO layouts, split
distribution-focal heads, or detections after NMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.attribution.context import Context
from engine.attribution.image_tensors import expand_mask
from engine.attribution.method_spec import Method, MethodOutput, PassQuery, param
from engine.attribution.rise import MaskParams, make_masks
from engine.attribution.runner import run_batches
from engine.cancellation import CancelToken, ProgressCallback
from engine.errors import InputError
from engine.graph.batching import batch_feeds
from engine.heads import HeadContext, recognise_head
from engine.heads.registry import labels_of
from engine.heads.vectors import Proposals, proposals, target_proposal

_CHUNK = 64


@dataclass(frozen=True)
class DRiseParams(MaskParams):
    """D-RISE's parameters: RISE's masks (a finer default grid, as in the paper's detectors)."""

    grid: int = param(16, "int", "mask grid cells per side", low=2, high=64,
                      effect="more cells: finer detail, noisier with few masks")


def similarity(target_box: np.ndarray, target_classes: np.ndarray,
               found: Proposals) -> np.ndarray:
    """Per batch item, the best IoU x class cosine x objectness over its proposals."""
    boxes = found.boxes
    x0 = np.maximum(target_box[0], boxes[..., 0])
    y0 = np.maximum(target_box[1], boxes[..., 1])
    x1 = np.minimum(target_box[2], boxes[..., 2])
    y1 = np.minimum(target_box[3], boxes[..., 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_t = (target_box[2] - target_box[0]) * (target_box[3] - target_box[1])
    areas = np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * \
        np.clip(boxes[..., 3] - boxes[..., 1], 0, None)
    iou = inter / np.maximum(area_t + areas - inter, 1e-12)
    classes = found.classes
    width = min(classes.shape[-1], target_classes.shape[-1])
    dot = (classes[..., :width] * target_classes[:width]).sum(axis=-1)
    norms = np.linalg.norm(classes, axis=-1) * np.linalg.norm(target_classes)
    cosine = dot / np.maximum(norms, 1e-12)
    result: np.ndarray = (iou * cosine * found.objectness).max(axis=1)
    return result


def run(ctx: Context, params: DRiseParams, progress: ProgressCallback,
        cancel: CancelToken) -> MethodOutput:
    """D-RISE of the target detection (see the module docstring)."""
    geo = ctx.geometry
    labels, charset = labels_of(ctx.model)
    heads = HeadContext(info=ctx.model.info, values=ctx.outputs, output_names=ctx.output_names,
                        input_size=geo.size, transform=None, labels=labels, charset=charset)
    head, _ = recognise_head(heads)
    if head.kind not in ("dense-detection", "detection"):
        raise InputError(f"D-RISE explains detections; this model's head is a {head.kind} "
                         "head (use RISE).")
    if ctx.target.kind != "element":
        raise InputError("D-RISE needs one detection as its target (det:K from predict, or "
                         "an element of the detection output).")
    reference = proposals(ctx.outputs, head, geo.size)
    anchor = target_proposal(head, ctx.target.output, ctx.target.index, ctx.outputs, geo.size)
    target_box = reference.boxes[0, anchor]
    target_classes = reference.classes[0, anchor]
    mask_set = make_masks(params.masks, params.grid, params.probability, geo.height, geo.width,
                          params.seed)
    image = ctx.image()
    fetch = list(head.outputs or (head.output,))
    others = [n for n in ctx.batch_inputs if n != ctx.main_input]

    def one(indices: np.ndarray) -> dict[str, np.ndarray]:
        feeds = batch_feeds(ctx.feeds, others, len(indices))
        feeds[ctx.main_input] = ctx.to_input_dtype(image * expand_mask(mask_set.masks(indices),
                                                                       geo))
        values = ctx.session.run(feeds, fetch, cancel=cancel)
        return {"score": similarity(target_box, target_classes,
                                    proposals(values, head, geo.size))}

    result, size, notes = run_batches(params.masks, ctx.batch_size, one, progress, cancel,
                                      "d-rise")
    scores = result["score"]
    total = np.zeros(geo.height * geo.width)
    for start in range(0, params.masks, _CHUNK):
        cancel.check()
        idx = np.arange(start, min(start + _CHUNK, params.masks))
        total += scores[idx] @ mask_set.masks(idx).reshape(len(idx), -1).astype(np.float64)
    heatmap = (total / (params.masks * params.probability)).reshape(geo.height, geo.width)
    box = ", ".join(f"{v:.0f}" for v in target_box)
    return MethodOutput(
        heatmap=heatmap.astype(np.float32), forward_passes=params.masks, batch_size=size,
        path="numpy", notes=[*notes, f"target detection: proposal {anchor}, box [{box}] in "
                             f"input pixels; {params.masks} masks, grid {params.grid}, "
                             f"p={params.probability:g}, seed {params.seed}"],
        stats={"target_proposal": float(anchor), "mean_similarity": float(scores.mean())})


def estimate_passes(query: PassQuery, params: DRiseParams) -> int:
    """One pass per mask."""
    del query
    return params.masks


METHOD = Method(
    name="d-rise", title="D-RISE",
    description="For detectors: random masks weighted by how well the masked image still "
    "yields the target detection (box overlap x class similarity x objectness); one forward "
    "pass per mask.",
    params_type=DRiseParams, run=run, estimate_passes=estimate_passes)
