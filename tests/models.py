"""Tiny hand-made ONNX models for tests.

Every builder returns a fresh :class:`onnx.ModelProto` with deterministic weights (seeded
numpy generator), opset :data:`~tests._onnx_build.OPSET` and IR version
:data:`~tests._onnx_build.IR_VERSION` unless the model is about versions. Image models take
NCHW float32 ``[batch, 3, 32, 32]`` with a symbolic batch unless noted.

:data:`TINY_MODELS` maps a name to its builder; :data:`NOT_RUNNABLE` names the models that
onnxruntime must refuse; :func:`write_tiny_models` saves them all; :func:`example_feeds`
makes seeded inputs for any model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from tests._onnx_build import GraphBuilder, make_model, value_info
from tests._onnx_build import example_feeds as example_feeds  # re-exported

IMAGE_SHAPE: list[int | str] = ["batch", 3, 32, 32]


def cnn2d(seed: int = 0) -> onnx.ModelProto:
    """Small 2-D CNN classifier over most activation kinds.

    Conv+Relu, Conv(stride 2, pad 1)+Clip(0, 6), depthwise Conv(group=C)+Sigmoid,
    Conv+SiLU (``Mul(x, Sigmoid(x))``), Conv+LeakyRelu, Conv(stride 2)+HardSwish,
    GlobalAveragePool, Flatten, Gemm. Conv nodes are named ``conv1`` ... ``conv6``.

    Parameters
    ----------
    seed : int
        Weight seed.

    Returns
    -------
    onnx.ModelProto
        Input ``input`` float32[batch, 3, 32, 32]; output ``logits`` float32[batch, 10].
    """
    g = GraphBuilder(seed)
    x = g.op("Relu", [g.conv("input", 3, 8, 3, name="conv1")])
    lo, hi = g.const("clip_lo", np.float32(0.0)), g.const("clip_hi", np.float32(6.0))
    x = g.op("Clip", [g.conv(x, 8, 16, 3, stride=2, pad=1, name="conv2"), lo, hi])
    x = g.op("Sigmoid", [g.conv(x, 16, 16, 3, group=16, name="conv3_dw")])
    c = g.conv(x, 16, 16, 1, name="conv4")
    x = g.op("Mul", [c, g.op("Sigmoid", [c])], name="silu")
    x = g.op("LeakyRelu", [g.conv(x, 16, 16, 3, name="conv5")], alpha=0.1)
    x = g.op("HardSwish", [g.conv(x, 16, 24, 3, stride=2, name="conv6")])
    logits = g.head(x, 24, 10)
    graph = g.graph(
        "cnn2d",
        [value_info("input", IMAGE_SHAPE)],
        [value_info("logits", ["batch", 10])],
        logits,
    )
    return make_model(graph)


def conv_transpose(seed: int = 1) -> onnx.ModelProto:
    """Encoder-decoder segmentation net: Conv(stride 2) then ConvTranspose back up.

    Returns
    -------
    onnx.ModelProto
        Input ``input`` float32[batch, 3, 32, 32]; output ``mask`` float32[batch, 4, 32, 32].
    """
    g = GraphBuilder(seed)
    x = g.op("Relu", [g.conv("input", 3, 8, 3, stride=2, pad=1, name="enc_conv")])
    x = g.op("Sigmoid", [g.conv_transpose(x, 8, 4, 2, 2)])
    out = value_info("mask", ["batch", 4, 32, 32])
    return make_model(g.graph("deconv", [value_info("input", IMAGE_SHAPE)], [out], x))


def conv1d(seed: int = 2) -> onnx.ModelProto:
    """1-D conv classifier (signals / audio).

    Returns
    -------
    onnx.ModelProto
        Input ``signal`` float32[batch, 4, 64] (N, C, L); output ``logits`` [batch, 3].
    """
    g = GraphBuilder(seed)
    x = g.op("Relu", [g.conv("signal", 4, 8, 5, dims=1, name="conv1d_a")])
    x = g.op("Relu", [g.conv(x, 8, 8, 3, dims=1, stride=2, name="conv1d_b")])
    logits = g.head(x, 8, 3)
    inp = value_info("signal", ["batch", 4, 64])
    return make_model(g.graph("conv1d", [inp], [value_info("logits", ["batch", 3])], logits))


def conv3d(seed: int = 3) -> onnx.ModelProto:
    """3-D conv classifier (volumes / video clips).

    Returns
    -------
    onnx.ModelProto
        Input ``volume`` float32[batch, 2, 8, 16, 16]; output ``logits`` [batch, 3].
    """
    g = GraphBuilder(seed)
    x = g.op("Relu", [g.conv("volume", 2, 4, 3, dims=3, name="conv3d_a")])
    x = g.op("Relu", [g.conv(x, 4, 4, 3, dims=3, stride=2, name="conv3d_b")])
    logits = g.head(x, 4, 3)
    inp = value_info("volume", ["batch", 2, 8, 16, 16])
    return make_model(g.graph("conv3d", [inp], [value_info("logits", ["batch", 3])], logits))


def conv_in_if(seed: int = 4) -> onnx.ModelProto:
    """Conv nodes that live only inside the branches of an ``If`` (like silero VAD).

    The condition is ``width > 16``: width 32 runs ``then_conv`` (3x3), width 16 runs
    ``else_conv`` (5x5). Both branches output [batch, 8, H, W]; a top-level head follows.

    Returns
    -------
    onnx.ModelProto
        Input ``input`` float32[batch, 3, height, width]; output ``logits`` [batch, 5].
    """
    g = GraphBuilder(seed)
    branches = []
    for branch, kernel in (("then", 3), ("else", 5)):
        sub = GraphBuilder(seed + kernel, prefix=f"{branch}_")
        y = sub.op("Relu", [sub.conv("input", 3, 8, kernel, name=f"{branch}_conv")])
        out = value_info(f"{branch}_features", None)
        branches.append(sub.graph(f"{branch}_branch", [], [out], y))
    shape = g.op("Shape", ["input"])
    width = g.op("Gather", [shape, g.const("axis3", np.int64(3))], axis=0)
    cond = g.op("Greater", [width, g.const("sixteen", np.int64(16))])
    feats = g.op("If", [cond], name="branch", then_branch=branches[0], else_branch=branches[1])
    logits = g.head(feats, 8, 5)
    inp = value_info("input", ["batch", 3, "height", "width"])
    graph = g.graph("conv_in_if", [inp], [value_info("logits", ["batch", 5])], logits)
    return make_model(graph)


def nhwc_input(seed: int = 5) -> onnx.ModelProto:
    """Channels-last input transposed to NCHW first (like keras2onnx / tf2onnx exports).

    Returns
    -------
    onnx.ModelProto
        Input ``image`` float32[batch, 32, 32, 3]; output ``logits`` [batch, 4].
    """
    g = GraphBuilder(seed)
    x = g.op("Transpose", ["image"], name="to_nchw", perm=[0, 3, 1, 2])
    x = g.op("Relu", [g.conv(x, 3, 8, 3, name="conv1")])
    x = g.op("Relu", [g.conv(x, 8, 8, 3, stride=2, name="conv2")])
    logits = g.head(x, 8, 4)
    inp = value_info("image", ["batch", 32, 32, 3])
    return make_model(g.graph("nhwc", [inp], [value_info("logits", ["batch", 4])], logits))


def two_inputs(seed: int = 6) -> onnx.ModelProto:
    """Image plus a side vector, concatenated before the classifier.

    Returns
    -------
    onnx.ModelProto
        Inputs ``image`` float32[batch, 3, 32, 32] and ``meta`` float32[batch, 4];
        output ``logits`` [batch, 3].
    """
    g = GraphBuilder(seed)
    x = g.op("Relu", [g.conv("image", 3, 8, 3, stride=2, name="conv1")])
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    joined = g.op("Concat", [pooled, "meta"], axis=1)
    logits = g.gemm(joined, 12, 3)
    inputs = [value_info("image", IMAGE_SHAPE), value_info("meta", ["batch", 4])]
    return make_model(g.graph("two_inputs", inputs, [value_info("logits", ["batch", 3])], logits))


def fixed_batch_reshape(seed: int = 7) -> onnx.ModelProto:
    """Classifier whose Reshape hard-codes ``[1, -1]``: batch 1 works, batch 2 fails.

    Returns
    -------
    onnx.ModelProto
        Input ``input`` float32[batch, 3, 32, 32]; output ``logits`` [1, 5].
    """
    g = GraphBuilder(seed)
    x = g.op("Relu", [g.conv("input", 3, 8, 3, stride=2, name="conv1")])
    pooled = g.op("GlobalAveragePool", [x])
    flat = g.op(
        "Reshape",
        [pooled, g.const("shape", np.array([1, -1], np.int64))],
        name="flatten",
    )
    logits = g.gemm(flat, 8, 5)
    out = value_info("logits", [1, 5])
    return make_model(g.graph("fixed_batch", [value_info("input", IMAGE_SHAPE)], [out], logits))


def unnamed_nodes(seed: int = 8) -> onnx.ModelProto:
    """Two Conv layers and a head where every node has an empty name.

    Returns
    -------
    onnx.ModelProto
        Input ``input`` float32[batch, 3, 32, 32]; output ``logits`` [batch, 4].
    """
    g = GraphBuilder(seed)
    x = g.op("Relu", [g.conv("input", 3, 8, 3, name="")], name="")
    x = g.op("Relu", [g.conv(x, 8, 8, 3, stride=2, name="")], name="")
    logits = g.head(x, 8, 4, name="")
    graph = g.graph(
        "unnamed",
        [value_info("input", IMAGE_SHAPE)],
        [value_info("logits", ["batch", 4])],
        logits,
    )
    for node in graph.node:
        node.name = ""
    return make_model(graph)


def linear_weights() -> tuple[np.ndarray, np.ndarray]:
    """Weights of :func:`linear`: W float32[2, 3, 3, 3] and b float32[2].

    Returns
    -------
    tuple of numpy.ndarray
        ``(W, b)`` with W[o, c, i, j] = (o + 1) * (c + 1) * 0.1 + (i - j) * 0.01 and
        b = [0.5, -0.25].
    """
    o, c, i, j = np.meshgrid(*(np.arange(n) for n in (2, 3, 3, 3)), indexing="ij")
    weight = (o + 1) * (c + 1) * 0.1 + (i - j) * 0.01
    return weight.astype(np.float32), np.array([0.5, -0.25], np.float32)


def linear() -> onnx.ModelProto:
    """A single linear Conv then ``ReduceSum(Flatten(.))``: closed-form attributions.

    ``score[n] = sum_{o,y,x} conv(input)[n, o, y, x]`` with the 3x3 pad-1 Conv named
    ``linear_conv`` and weights :func:`linear_weights`, so the gradient of the score with
    respect to the input (and to the conv output, which is all ones) is known exactly.

    Returns
    -------
    onnx.ModelProto
        Input ``input`` float32[batch, 3, 16, 16]; output ``score`` float32[batch, 1].
    """
    g = GraphBuilder(0)
    weight, bias = linear_weights()
    conv = g.conv("input", 3, 2, 3, name="linear_conv", weight=weight, bias=bias)
    flat = g.op("Flatten", [conv], axis=1)
    axes = g.const("axes", np.array([1], np.int64))
    score = g.op("ReduceSum", [flat, axes], name="sum", keepdims=1)
    inp = value_info("input", ["batch", 3, 16, 16])
    return make_model(g.graph("linear", [inp], [value_info("score", ["batch", 1])], score))


def custom_domain_op(seed: int = 9) -> onnx.ModelProto:
    """A ``com.vendor::MagicConv`` node that no runtime implements (session must fail).

    Returns
    -------
    onnx.ModelProto
        Input ``input`` float32[batch, 3, 32, 32]; output ``features`` [batch, 8, 32, 32].
    """
    g = GraphBuilder(seed)
    x = g.op("Relu", [g.conv("input", 3, 8, 3, name="conv1")])
    x = g.op("MagicConv", [x], name="magic", domain="com.vendor", channels=8)
    x = g.op("Relu", [x])
    out = value_info("features", ["batch", 8, 32, 32])
    graph = g.graph("custom_op", [value_info("input", IMAGE_SHAPE)], [out], x)
    return make_model(graph, extra_opsets=[("com.vendor", 1)])


def unused_custom_opset(seed: int = 10) -> onnx.ModelProto:
    """A runnable CNN that also imports opset ``ai.vendor`` v1 without using it.

    Returns
    -------
    onnx.ModelProto
        Input ``input`` float32[batch, 3, 32, 32]; output ``logits`` [batch, 4].
    """
    model = plain_cnn(seed)
    model.opset_import.append(helper.make_opsetid("ai.vendor", 1))
    return model


def plain_cnn(seed: int = 11) -> onnx.ModelProto:
    """Two Conv+Relu layers and a head; the plainest runnable image model."""
    g = GraphBuilder(seed)
    x = g.op("Relu", [g.conv("input", 3, 8, 3, name="conv1")])
    x = g.op("Relu", [g.conv(x, 8, 8, 3, stride=2, name="conv2")])
    logits = g.head(x, 8, 4)
    graph = g.graph(
        "plain",
        [value_info("input", IMAGE_SHAPE)],
        [value_info("logits", ["batch", 4])],
        logits,
    )
    return make_model(graph)


def future_opset() -> onnx.ModelProto:
    """The plain CNN declaring ai.onnx opset 99 (too new for any runtime)."""
    model = plain_cnn()
    model.opset_import[0].version = 99
    return model


def future_ir_version() -> onnx.ModelProto:
    """The plain CNN declaring IR version 99 (too new for any runtime)."""
    model = plain_cnn()
    model.ir_version = 99
    return model


TINY_MODELS: dict[str, Callable[[], onnx.ModelProto]] = {
    "cnn2d": cnn2d,
    "conv_transpose": conv_transpose,
    "conv1d": conv1d,
    "conv3d": conv3d,
    "conv_in_if": conv_in_if,
    "nhwc_input": nhwc_input,
    "two_inputs": two_inputs,
    "fixed_batch_reshape": fixed_batch_reshape,
    "unnamed_nodes": unnamed_nodes,
    "linear": linear,
    "plain_cnn": plain_cnn,
    "custom_domain_op": custom_domain_op,
    "unused_custom_opset": unused_custom_opset,
    "future_opset": future_opset,
    "future_ir_version": future_ir_version,
}
"""Every tiny model builder by name (file name is ``<name>.onnx``)."""

NOT_RUNNABLE: frozenset[str] = frozenset({"custom_domain_op", "future_opset", "future_ir_version"})
"""Tiny models onnxruntime must refuse to load."""

BATCH_ONE_ONLY: frozenset[str] = frozenset({"fixed_batch_reshape"})
"""Tiny models that run with batch 1 but fail with batch 2."""


def write_tiny_models(folder: Path) -> dict[str, Path]:
    """Save every model of :data:`TINY_MODELS` as ``folder/<name>.onnx``.

    Parameters
    ----------
    folder : pathlib.Path
        Destination folder (created if missing).

    Returns
    -------
    dict of str to pathlib.Path
        Written file by model name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, build in TINY_MODELS.items():
        paths[name] = folder / f"{name}.onnx"
        onnx.save_model(build(), paths[name])
    return paths
