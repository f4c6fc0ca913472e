"""Deletion and insertion curves as one fused ONNX graph: ranks in once, step counts per batch.

The graph gets the pixel ranks [H, W] (0 = the heatmap's highest pixel), the
starting image and the replacement image once, and per batch only the number of
pixels changed at each item's step; the mask ``rank < count`` is built in the
graph and the model sees ``where(mask, replacement, start)``. Only scores come back.
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
                output_type: int, score_nodes: ScoreBuilder) -> ModelProto:
    """The model with a prefix that applies the first ``count`` ranked pixels of each item.

    Inputs ``fs_counts`` int64 [B], ``fs_ranks`` int64 [1, H, W] (layout-shaped
    for broadcasting), ``fs_start`` and ``fs_replacement`` [1, ...] in the
    model's layout. Outputs ``fs_score`` [B].
    """
    builder = start_graph(model, [RANKS, COUNTS, START, REPLACEMENT])
    nchw = geometry.layout == "NCHW"
    counts = builder.reshape(COUNTS, [-1, 1, 1, 1])
    mask = builder.op("Less", [RANKS, counts])  # [B, 1, H, W] or [B, H, W, 1]
    x = builder.op("Where", [mask, REPLACEMENT, START])
    rank_shape: list[int | str] = [1, 1, geometry.height, geometry.width] if nchw else \
        [1, geometry.height, geometry.width, 1]
    inputs = [helper.make_tensor_value_info(COUNTS, TensorProto.INT64, ["batch"]),
              helper.make_tensor_value_info(RANKS, TensorProto.INT64, rank_shape),
              float_input(START, geometry.image_shape()),
              float_input(REPLACEMENT, geometry.image_shape())]
    return finish_graph(model, builder, main_input, x, inputs, output, output_type,
                        score_nodes)


def pixel_ranks(heatmap: np.ndarray) -> np.ndarray:
    """Each pixel's rank, highest heatmap value first, ties by row-major index (int64 [H, W])."""
    order = np.argsort(-heatmap.astype(np.float64).reshape(-1), kind="stable")
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(order.size)
    return ranks.reshape(heatmap.shape)
