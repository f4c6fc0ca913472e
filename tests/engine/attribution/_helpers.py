"""Helpers shared by the attribution tests: tiny known-answer models and inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from engine.attribution.registry import run_attribution
from engine.attribution.types import AttributionRequest, AttributionResult, Target
from engine.model_io import LoadedModel, load_model
from engine.preprocess import prepare_input
from engine.types import PreparedInput
from tests._onnx_build import GraphBuilder, make_model, value_info

#: Where the one-channel model's input has its bright blob (rows, cols).
BLOB = (slice(4, 8), slice(10, 14))


def save_and_load(proto: onnx.ModelProto, folder: Path, name: str) -> LoadedModel:
    """Write ``proto`` into ``folder`` and load it as the engine does."""
    path = folder / f"{name}.onnx"
    onnx.save_model(proto, path)
    return load_model(path)


def npy_input(model: LoadedModel, array: np.ndarray, folder: Path, name: str = "x"
              ) -> PreparedInput:
    """A PreparedInput for a ``.npy`` tensor (used as is)."""
    path = folder / f"{name}.npy"
    np.save(path, array)
    return prepare_input(model.info, path)


def attribute(model: LoadedModel, prepared: PreparedInput, method: str,
              target: Target | None = None, layer: str | None = None,
              batch_size: int | None = None, **params: object) -> AttributionResult:
    """Run one method on CPU with keyword parameters."""
    request = AttributionRequest(method=method, target=target or Target(), layer=layer,
                                 params=tuple(params.items()), batch_size=batch_size)
    return run_attribution(model, prepared, request, "cpu")


def one_channel_model() -> onnx.ModelProto:
    """A model whose score depends on one channel of its only conv layer.

    Input [batch, 1, 16, 16]; 1x1 Conv ``conv`` + Relu with 4 channels:
    c0 = relu(1 - x) (background), c1 = relu(2x) (the blob), c2 = 0 (constant),
    c3 = relu(0.5 x). Output ``logits`` [batch, 2] = [10 * mean(c1), 0].
    """
    g = GraphBuilder(0)
    weight = np.array([-1.0, 2.0, 0.0, 0.5], np.float32).reshape(4, 1, 1, 1)
    bias = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    x = g.op("Relu", [g.conv("input", 1, 4, 1, name="conv", weight=weight, bias=bias)])
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    head = np.zeros((4, 2), np.float32)
    head[1, 0] = 10.0
    logits = g.op("MatMul", [pooled, g.const("head", head)])
    graph = g.graph("one_channel", [value_info("input", ["batch", 1, 16, 16])],
                    [value_info("logits", ["batch", 2])], logits)
    return make_model(graph)


def blob_image() -> np.ndarray:
    """The one-channel model's input: zeros with a bright square at :data:`BLOB`."""
    image = np.zeros((1, 1, 16, 16), np.float32)
    image[0, 0, BLOB[0], BLOB[1]] = 1.0
    return image


def unbatchable_model() -> onnx.ModelProto:
    """A classifier that concatenates a constant [1, 3] row: any batch above 1 fails."""
    g = GraphBuilder(3)
    x = g.op("Relu", [g.conv("input", 3, 4, 3, name="conv1")])
    flat = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    joined = g.op("Concat", [flat, g.const("extra", np.ones((1, 3), np.float32))], axis=1)
    logits = g.gemm(joined, 7, 3)
    graph = g.graph("unbatchable", [value_info("input", ["batch", 3, 16, 16])],
                    [value_info("logits", ["batch", 3])], logits)
    return make_model(graph)


def fixed_input_model() -> onnx.ModelProto:
    """A classifier declaring input [1, 3, 16, 16] and output [1, 4] (fixed batch)."""
    g = GraphBuilder(4)
    x = g.op("Relu", [g.conv("input", 3, 6, 3, name="conv1")])
    logits = g.head(x, 6, 4)
    graph = g.graph("fixed", [value_info("input", [1, 3, 16, 16])],
                    [value_info("logits", [1, 4])], logits)
    return make_model(graph)


def tiny_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with float16 inputs and outputs (weights and compute in float16)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=False)
