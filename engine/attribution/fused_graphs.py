"""Perturbation graphs: generate the perturbed batch inside ONNX, return only scores.

A fused graph is the model with a *prefix* that builds its input from a small
per-batch description (activation slices for Score-CAM, window boxes for
occlusion, mask grids for RISE) plus the unperturbed image, and with the
target's score nodes appended after the output. Per batch only the description
goes in and only the scores [batch] come out; the image stays a graph input
fed once per batch (on CUDA a few hundred kilobytes, against the full batch of
perturbed images a numpy path would copy).

All builders are pure: they return a new ModelProto and never mutate the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import onnx
from onnx import ModelProto, TensorProto, helper

from engine.attribution.geometry import ImageGeometry
from engine.attribution.resample import interp_matrix
from engine.errors import RewriteError
from engine.graph.nodes import MIN_FUSED_OPSET, NodeBuilder, default_opset, used_names

Layout = Literal["NCHW", "NHWC"]
SCORE = "fs_score"
CLASSES = "fs_classes"
IMAGE = "fs_image"
BASELINE = "fs_baseline"
SLICES = "fs_slices"
BOXES = "fs_boxes"
GRIDS = "fs_grids"
ROWS = "fs_rows"
COLS = "fs_cols"
ACTS = "fs_acts"
CHANNELS = "fs_channels"

ScoreBuilder = Callable[[NodeBuilder, str, int], tuple[str, str | None]]


def fusable(model: ModelProto) -> str:
    """Return why ``model`` cannot get a fused prefix, or ``""`` if it can."""
    opset = default_opset(model)
    if opset < MIN_FUSED_OPSET:
        return f"the model's opset {opset} is older than {MIN_FUSED_OPSET}"
    return ""


def _input_elem_type(model: ModelProto, name: str) -> int:
    for value in model.graph.input:
        if value.name == name:
            return int(value.type.tensor_type.elem_type) or TensorProto.FLOAT
    raise RewriteError(f"The model has no input named '{name}'.")


def _compose(model: ModelProto, main_input: str, builder: NodeBuilder, prefix_end: int,
             new_inputs: list[onnx.ValueInfoProto], outputs: list[str]) -> ModelProto:
    """Splice prefix nodes (``builder.nodes[:prefix_end]``) and score nodes around the model."""
    new = ModelProto()
    new.CopyFrom(model)
    graph = new.graph
    kept = [v for v in graph.input if v.name != main_input]
    del graph.input[:]
    graph.input.extend([*new_inputs, *kept])
    body = list(graph.node)
    del graph.node[:]
    graph.node.extend([*builder.nodes[:prefix_end], *body, *builder.nodes[prefix_end:]])
    graph.initializer.extend(builder.initializers)
    del graph.output[:]
    for name in outputs:
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    stale = [v for v in graph.value_info if v.name == main_input]
    for value in stale:
        graph.value_info.remove(value)
    return new


def _to_input_type(builder: NodeBuilder, x: str, main_input: str, elem: int) -> None:
    """Convert the float perturbed batch to the model input's type, named ``main_input``."""
    if elem == TensorProto.UINT8:
        clipped = builder.op("Clip", [x, builder.const(np.float32(0)),
                                      builder.const(np.float32(255))])
        builder.op("Cast", [builder.op("Round", [clipped])], output=main_input,
                   to=TensorProto.UINT8)
    elif elem != TensorProto.FLOAT:
        builder.op("Cast", [x], output=main_input, to=elem)
    else:
        builder.op("Identity", [x], output=main_input)


def finish_graph(model: ModelProto, builder: NodeBuilder, main_input: str, produced: str,
            inputs: list[onnx.ValueInfoProto], output: str, output_type: int,
            score_nodes: ScoreBuilder) -> ModelProto:
    _to_input_type(builder, produced, main_input, _input_elem_type(model, main_input))
    prefix_end = len(builder.nodes)
    score, classes = score_nodes(builder, output, output_type)
    builder.op("Identity", [score], output=SCORE)
    outputs = [SCORE]
    if classes is not None:
        builder.op("Identity", [classes], output=CLASSES)
        outputs.append(CLASSES)
    return _compose(model, main_input, builder, prefix_end, inputs, outputs)


def start_graph(model: ModelProto, names: list[str]) -> NodeBuilder:
    reason = fusable(model)
    if reason:
        raise RewriteError("A fused perturbation graph cannot be built for this model.", reason)
    builder = NodeBuilder(default_opset(model), used_names(model))
    for name in [*names, SCORE, CLASSES]:
        builder.reserve(name)
    return builder


def float_input(name: str, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def score_cam_graph(model: ModelProto, main_input: str, geometry: ImageGeometry,
                    layer_hw: tuple[int, int], output: str, output_type: int,
                    score_nodes: ScoreBuilder, align_corners: bool, eps: float,
                    affine: tuple[np.ndarray, np.ndarray] | None,
                    upsample: Literal["resize", "matmul"] = "resize") -> ModelProto:
    """Score-CAM: activation slices in, masked-input scores out.

    Inputs ``fs_slices`` [B, h, w] (one activation channel per item),
    ``fs_image`` [1, ...] and ``fs_baseline`` [1, ...] (image layout). Each
    slice is bilinearly resized to the input size (``upsample="resize"``, the
    default: an ONNX Resize; ``"matmul"``: the same bilinear weights as two
    constant interpolation matrices, ``R_y @ A_k @ R_x^T``), min-max normalised
    (ReduceMin, ReduceMax, Sub, Div with ``eps`` added to the range) into a
    mask H, and the model sees ``baseline + H * (image - baseline)``; with
    ``affine = (alpha, beta)`` (per channel) the masking happens on the raw
    image and the model's normalisation ``x * alpha + beta`` follows it.

    Returns
    -------
    ModelProto
        Outputs ``fs_score`` [B].
    """
    builder = start_graph(model, [SLICES, IMAGE, BASELINE])
    h, w = layer_hw
    if upsample == "resize":
        maps = builder.reshape(SLICES, [-1, 1, h, w])
        up = builder.resize_bilinear(maps, geometry.height, geometry.width, align_corners)
    else:
        rows = interp_matrix(h, geometry.height, align_corners).astype(np.float32)
        cols = interp_matrix(w, geometry.width, align_corners).T.astype(np.float32)
        up = builder.op("MatMul", [builder.op("MatMul", [builder.const(rows, "rows"), SLICES]),
                                   builder.const(np.ascontiguousarray(cols), "cols")])
        up = builder.reshape(up, [-1, 1, geometry.height, geometry.width])
    low = builder.reduce("ReduceMin", up, [2, 3], keepdims=True)
    high = builder.reduce("ReduceMax", up, [2, 3], keepdims=True)
    span = builder.op("Sub", [high, low])
    if eps:
        span = builder.op("Add", [span, builder.const(np.float32(eps), "eps")])
    mask = builder.op("Div", [builder.op("Sub", [up, low]), span])
    if geometry.layout == "NHWC":
        mask = builder.op("Transpose", [mask], perm=[0, 2, 3, 1])
    delta = builder.op("Sub", [IMAGE, BASELINE])
    x = builder.op("Add", [BASELINE, builder.op("Mul", [mask, delta])])
    if affine is not None:
        alpha = builder.const(affine[0].reshape(geometry.channel_shape()).astype(np.float32))
        beta = builder.const(affine[1].reshape(geometry.channel_shape()).astype(np.float32))
        x = builder.op("Add", [builder.op("Mul", [x, alpha]), beta])
    inputs = [float_input(SLICES, ["batch", h, w]),
              float_input(IMAGE, geometry.image_shape()),
              float_input(BASELINE, geometry.image_shape())]
    return finish_graph(model, builder, main_input, x, inputs, output, output_type, score_nodes)


def occlusion_graph(model: ModelProto, main_input: str, geometry: ImageGeometry,
                    output: str, output_type: int, score_nodes: ScoreBuilder) -> ModelProto:
    """Occlusion: window boxes in, occluded-input scores out.

    Input ``fs_boxes`` int64 [B, 4] = (y0, x0, y1, x1) per item; the window
    mask is built with GreaterOrEqual/Less/And/Not/Cast against constant row
    and column indices, and the model sees ``image * keep + baseline * window``.

    Returns
    -------
    ModelProto
        Outputs ``fs_score`` [B].
    """
    builder = start_graph(model, [BOXES, IMAGE, BASELINE])
    nchw = geometry.layout == "NCHW"
    rows_shape = [1, 1, geometry.height, 1] if nchw else [1, geometry.height, 1, 1]
    cols_shape = [1, 1, 1, geometry.width] if nchw else [1, 1, geometry.width, 1]
    rows = builder.const(np.arange(geometry.height, dtype=np.int64).reshape(rows_shape), "rows")
    cols = builder.const(np.arange(geometry.width, dtype=np.int64).reshape(cols_shape), "cols")
    edges = []
    for k in range(4):
        part = builder.op("Slice", [BOXES, builder.const(np.array([k], np.int64)),
                                    builder.const(np.array([k + 1], np.int64)),
                                    builder.const(np.array([1], np.int64))])
        edges.append(builder.reshape(part, [-1, 1, 1, 1]))
    y0, x0, y1, x1 = edges
    in_rows = builder.op("And", [builder.greater_or_equal(rows, y0),
                                 builder.op("Less", [rows, y1])])
    in_cols = builder.op("And", [builder.greater_or_equal(cols, x0),
                                 builder.op("Less", [cols, x1])])
    inside = builder.op("And", [in_rows, in_cols])
    keep = builder.cast(builder.op("Not", [inside]), TensorProto.FLOAT)
    window = builder.cast(inside, TensorProto.FLOAT)
    x = builder.op("Add", [builder.op("Mul", [IMAGE, keep]),
                           builder.op("Mul", [BASELINE, window])])
    inputs = [helper.make_tensor_value_info(BOXES, TensorProto.INT64, ["batch", 4]),
              float_input(IMAGE, geometry.image_shape()),
              float_input(BASELINE, geometry.image_shape())]
    return finish_graph(model, builder, main_input, x, inputs, output, output_type, score_nodes)


def rise_graph(model: ModelProto, main_input: str, geometry: ImageGeometry, grid: int,
               output: str, output_type: int, score_nodes: ScoreBuilder) -> ModelProto:
    """RISE: low-resolution mask grids and their shifted interpolation matrices in.

    Inputs ``fs_grids`` [B, s, s], ``fs_rows`` [B, H, s] and ``fs_cols``
    [B, s, W]; the mask is ``rows @ grids @ cols`` (bilinear upsampling and the
    random shift as two MatMuls) and the model sees ``image * mask``.

    Returns
    -------
    ModelProto
        Outputs ``fs_score`` [B] and, when the score nodes give them,
        ``fs_classes`` [B, classes].
    """
    builder = start_graph(model, [GRIDS, ROWS, COLS, IMAGE])
    mask = builder.op("MatMul", [builder.op("MatMul", [ROWS, GRIDS]), COLS])
    mask = builder.reshape(mask, geometry.mask_shape())
    x = builder.op("Mul", [IMAGE, mask])
    h, w = geometry.height, geometry.width
    inputs = [float_input(GRIDS, ["batch", grid, grid]),
              float_input(ROWS, ["batch", h, grid]),
              float_input(COLS, ["batch", grid, w]),
              float_input(IMAGE, geometry.image_shape())]
    return finish_graph(model, builder, main_input, x, inputs, output, output_type, score_nodes)


def ablation_graph(suffix: ModelProto, cut: str, channels: int, zero: float, elem_type: int,
                   output: str, output_type: int, score_nodes: ScoreBuilder) -> ModelProto:
    """Ablation: channel indices in, scores of the graph after the layer out.

    ``suffix`` takes the layer's activations as its input ``cut``
    (:func:`engine.graph.suffix.extract_suffix`). The new inputs are
    ``fs_acts`` [1, K, h, w] (the activations, of ``elem_type``) and
    ``fs_channels`` int64 [B]; item b sees the activations with channel
    ``fs_channels[b]`` replaced by ``zero`` (Equal against a constant channel
    range, Where), so per batch only B integers go in.

    Returns
    -------
    ModelProto
        Outputs ``fs_score`` [B]; the suffix's other inputs stay inputs.
    """
    builder = start_graph(suffix, [ACTS, CHANNELS])
    column = builder.reshape(CHANNELS, [-1, 1])
    index = builder.const(np.arange(channels, dtype=np.int64).reshape(1, channels), "channels")
    hit = builder.reshape(builder.op("Equal", [column, index]), [-1, channels, 1, 1])
    dtype = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    fill = builder.const(np.array(zero).astype(dtype), "zero")
    builder.op("Where", [hit, fill, ACTS], output=cut)
    prefix_end = len(builder.nodes)
    score, _ = score_nodes(builder, output, output_type)
    builder.op("Identity", [score], output=SCORE)
    inputs = [helper.make_tensor_value_info(ACTS, elem_type, [1, channels, None, None]),
              helper.make_tensor_value_info(CHANNELS, TensorProto.INT64, ["batch"])]
    return _compose(suffix, cut, builder, prefix_end, inputs, [SCORE])
