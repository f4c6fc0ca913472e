"""Synthetic detectors with known answers, for the head recognisers and D-RISE.

All take a [batch, 3, 32, 32] image in 0..1 (RGB). The "blob detector" sees
one region: its class-0 score at one anchor is sigmoid(20 * (mean of the
region's pixels - 0.5)), and that anchor's box is the region itself, so its
detection depends on that region only.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from tests._onnx_build import GraphBuilder, make_model, value_info

SIZE = 32
#: The region the blob detector looks at: rows 8..15, cols 16..23 (y0, x0, y1, x1).
REGION = (8, 16, 16, 24)
#: Anchors over strides 8/16/32 at 32x32: 16 + 4 + 1.
ANCHORS = 21
#: The anchor whose class score sees the region (a stride-8 cell: row 1, col 2).
ANCHOR = 1 * 4 + 2
NAMES = {0: "blob", 1: "other"}


def _region_score(g: GraphBuilder) -> str:
    """[B, 1] = sigmoid(20 * (mean over the region and channels - 0.5))."""
    mask = np.zeros((1, 3, SIZE, SIZE), np.float32)
    y0, x0, y1, x1 = REGION
    mask[:, :, y0:y1, x0:x1] = 1.0 / (3 * (y1 - y0) * (x1 - x0))
    weighted = g.op("Mul", ["image", g.const("mask", mask)])
    total = g.op("ReduceSum", [weighted, g.const("axes", np.array([1, 2, 3], np.int64))],
                 keepdims=0)
    logit = g.op("Mul", [g.op("Sub", [total, g.const("half", np.array(0.5, np.float32))]),
                         g.const("gain", np.array(20.0, np.float32))])
    return g.op("Reshape", [g.op("Sigmoid", [logit]),
                            g.const("b1", np.array([-1, 1], np.int64))])


def yolov8_blob_detector(names: bool = True) -> onnx.ModelProto:
    """A YOLOv8-layout detector, output ``output0`` [B, 4+2, 21], Ultralytics metadata."""
    g = GraphBuilder(0)
    score = _region_score(g)  # [B, 1]
    y0, x0, y1, x1 = REGION
    boxes = np.tile(np.array([[(x0 + x1) / 2], [(y0 + y1) / 2], [x1 - x0], [y1 - y0]],
                             np.float32), (1, ANCHORS))  # [4, 21]
    one_hot = np.zeros((1, ANCHORS), np.float32)
    one_hot[0, ANCHOR] = 1.0
    cls0 = g.op("Mul", [score, g.const("onehot", one_hot)])  # [B, 21]
    cls1 = g.op("Mul", [cls0, g.const("zero", np.array(0.0, np.float32))])
    classes = g.op("Concat", [g.op("Unsqueeze", [cls0, g.const("ax1", np.array([1], np.int64))]),
                              g.op("Unsqueeze", [cls1, g.const("ax1b", np.array([1], np.int64))])],
                   axis=1)  # [B, 2, 21]
    zeros = g.op("Mul", [g.op("Unsqueeze", [cls0, g.const("ax1c", np.array([1], np.int64))]),
                         g.const("zero4", np.zeros((1, 4, 1), np.float32))])  # [B, 4, 21]
    box_rows = g.op("Add", [zeros, g.const("boxes", boxes[None])])
    out = g.op("Concat", [box_rows, classes], axis=1)
    graph = g.graph("blob_detector", [value_info("image", ["batch", 3, SIZE, SIZE])],
                    [value_info("output0", ["batch", 6, ANCHORS])], out)
    model = make_model(graph)
    if names:
        for key, value in (("imgsz", f"[{SIZE}, {SIZE}]"), ("stride", "32"), ("task", "detect"),
                           ("names", repr(NAMES))):
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
    return model


def argmax_segmenter() -> onnx.ModelProto:
    """A 2-class segmenter whose only output is the ArgMax of its scores ([B, 32, 32] int64)."""
    g = GraphBuilder(1)
    fg = g.op("ReduceMean", ["image"], axes=[1], keepdims=1)
    bg = g.op("Sub", [g.const("one", np.array(1.0, np.float32)), fg])
    scores = g.op("Concat", [bg, fg], axis=1)
    labels = g.op("ArgMax", [scores], axis=1, keepdims=0)
    graph = g.graph("seg", [value_info("image", ["batch", 3, SIZE, SIZE])],
                    [helper.make_tensor_value_info("labels", onnx.TensorProto.INT64,
                                                   ["batch", SIZE, SIZE])], labels)
    return make_model(graph)
