"""Planted faults: a copy of a model with one conv's weights or one bias channel changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from engine.featuremaps import model_layers
from engine.model_io import load_model
from engine.types import LayerInfo

WEIGHT_SCALE = 1.05
BIAS_DELTA = 1.0


def _constant(graph: onnx.GraphProto, name: str) -> np.ndarray:
    for tensor in graph.initializer:
        if tensor.name == name:
            return numpy_helper.to_array(tensor)
    for node in graph.node:
        if node.op_type == "Constant" and node.output and node.output[0] == name:
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
    raise KeyError(f"{name} is not a constant of the top-level graph")


def fault_layer(path: Path) -> LayerInfo:
    """The layer to break: the middle exposable float conv, preferring one without activation

    (a bias change is then visible whatever the channel's values)."""
    layers = [la for la in model_layers(load_model(path)) if la.exposable
              and la.op_type in ("Conv", "ConvTranspose")]
    linear = [la for la in layers if la.activation is None] or layers
    return linear[len(linear) // 2]


def plant_fault(src: Path, dst: Path, kind: str, layer: LayerInfo | None = None,
                channel: int = 0) -> LayerInfo:
    """Write a copy of ``src`` with one conv changed; return the changed layer.

    ``kind`` is ``weights`` (the conv's weights times :data:`WEIGHT_SCALE`) or
    ``bias`` (channel ``channel`` of its bias plus :data:`BIAS_DELTA`, a bias of
    zeros being added where the conv has none). The changed tensor is a new
    initializer, so a weight shared with another node stays as it was.
    """
    layer = layer or fault_layer(src)
    model = onnx.load(src)
    node = next(n for n in model.graph.node if n.output and n.output[0] == layer.conv_output)
    if kind == "weights":
        weights = _constant(model.graph, node.input[1]).astype(np.float32)
        new = numpy_helper.from_array((weights * WEIGHT_SCALE).astype(weights.dtype),
                                      node.input[1] + "__fault")
        node.input[1] = new.name
    elif kind == "bias":
        weights = _constant(model.graph, node.input[1])
        channels = (weights.shape[1] * layer.group if node.op_type == "ConvTranspose"
                    else weights.shape[0])
        has_bias = len(node.input) > 2 and node.input[2]
        bias = (_constant(model.graph, node.input[2]).copy() if has_bias
                else np.zeros(channels, dtype=weights.dtype))
        bias[channel] += BIAS_DELTA
        new = numpy_helper.from_array(bias, f"{layer.conv_output}__fault_bias")
        if has_bias:
            node.input[2] = new.name
        else:
            while len(node.input) < 2:
                node.input.append("")
            node.input.append(new.name)
    else:
        raise ValueError(kind)
    model.graph.initializer.append(new)
    onnx.save_model(model, dst)
    return layer
