"""Deletion and insertion curves as one fused ONNX graph: ranks in once, step counts per batch.

The graph gets the pixel ranks [H, W] (0 = the heatmap's highest pixel), the
starting image and the replacement image once, and per batch only the number of
pixels changed at each item's step; the mask ``rank < count`` is built in the
graph and the model sees ``where(mask, replacement, start)``. Only scores come back.

Ranks and counts are whole numbers held in float32 (exact below 2**24 pixels), so
the mask is ``clip(count - rank, 0, 1)``, 1 exactly where ``rank < count`` and 0
elsewhere, and the model's input is ``start * (1 - mask) + replacement * mask``:
equal to the ``Where`` for finite images, in plain vectorised element-wise
operations (onnxruntime's broadcasting ``Where`` on the CPU cost about twice as
much per item). Larger inputs keep ``Less``/``Where`` on int64 ranks.
"""

from __future__ import annotations

import numpy as np
from onnx import ModelProto, TensorProto, helper

from engine.attribution.fused_graphs import ScoreBuilder, finish_graph, float_input, start_graph
from engine.attribution.geometry import ImageGeometry

RANKS = "fs_ranks"
COUNTS = "fs_counts"
START = "fs_start"
REPLACEMENT = "fs_replacement"


def steps_graph(model: ModelProto, main_input: str, geometry: ImageGeometry, output: str,
                output_type: int, score_nodes: ScoreBuilder,
                exact_in_float: bool) -> ModelProto:
    """The model with a prefix that applies the first ``count`` ranked pixels of each item.

    Inputs ``fs_counts`` [B] and ``fs_ranks`` [1, H, W] (layout-shaped for
    broadcasting), float32 with ``exact_in_float`` (the caller's
    :func:`float_ranks`), else int64;
    ``fs_start`` and ``fs_replacement`` [1, ...] in the model's layout.
    Outputs ``fs_score`` [B].
    """
    builder = start_graph(model, [RANKS, COUNTS, START, REPLACEMENT])
    nchw = geometry.layout == "NCHW"
    counts = builder.reshape(COUNTS, [-1, 1, 1, 1])
    if exact_in_float:
        # [B, 1, H, W] or [B, H, W, 1]: 1.0 where rank < count, else 0.0 (exactly).
        mask = builder.op("Clip", [builder.op("Sub", [counts, RANKS]),
                                   builder.const(np.float32(0)), builder.const(np.float32(1))])
        keep = builder.op("Sub", [builder.const(np.float32(1)), mask])
        x = builder.op("Add", [builder.op("Mul", [START, keep]),
                               builder.op("Mul", [REPLACEMENT, mask])])
        rank_type = TensorProto.FLOAT
    else:
        x = builder.op("Where", [builder.op("Less", [RANKS, counts]), REPLACEMENT, START])
        rank_type = TensorProto.INT64
    rank_shape: list[int | str] = [1, 1, geometry.height, geometry.width] if nchw else \
        [1, geometry.height, geometry.width, 1]
    inputs = [helper.make_tensor_value_info(COUNTS, rank_type, ["batch"]),
              helper.make_tensor_value_info(RANKS, rank_type, rank_shape),
              float_input(START, geometry.image_shape()),
              float_input(REPLACEMENT, geometry.image_shape())]
    return finish_graph(model, builder, main_input, x, inputs, output, output_type,
                        score_nodes)


def float_ranks(geometry: ImageGeometry) -> bool:
    """Whether ranks and counts go in as float32 (every rank exact: under 2**24 pixels)."""
    return geometry.height * geometry.width <= 2**24


def pixel_ranks(heatmap: np.ndarray) -> np.ndarray:
    """Each pixel's rank, highest heatmap value first, ties by row-major index (int64 [H, W])."""
    order = np.argsort(-heatmap.astype(np.float64).reshape(-1), kind="stable")
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(order.size)
    return ranks.reshape(heatmap.shape)
