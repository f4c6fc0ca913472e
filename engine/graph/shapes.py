"""Concrete tensor shapes: onnx shape inference with the graph inputs fixed to real sizes.

Inference runs on a light copy of the graph: nodes, inputs and outputs, with
large initializers replaced by typed graph inputs of the same shape, so the
weights are never copied; small initializers (Reshape targets, Slice bounds)
are kept so data propagation still folds shapes computed from them.
"""

from __future__ import annotations

from collections.abc import Mapping

import onnx
from onnx import ModelProto, helper

from engine.graph.suffix import topological_nodes

#: Initializers with at most this many elements stay in the light copy.
SMALL_INITIALIZER = 64


def _light_copy(model: ModelProto, input_shapes: Mapping[str, tuple[int, ...]]) -> ModelProto:
    """The graph without its large weights and with the given inputs made concrete."""
    source = model.graph
    graph = helper.make_graph([], source.name or "graph", [], [])
    graph.node.extend(topological_nodes(source))  # exporters may append nodes out of order
    graph.output.extend(source.output)
    graph.sparse_initializer.extend(source.sparse_initializer)
    initialized = set()
    for tensor in source.initializer:
        initialized.add(tensor.name)
        if _element_count(tensor.dims) <= SMALL_INITIALIZER:
            graph.initializer.append(tensor)
        else:
            graph.input.append(helper.make_tensor_value_info(
                tensor.name, tensor.data_type, list(tensor.dims)))
    for value in source.input:
        if value.name in initialized:
            continue
        copy = graph.input.add()
        copy.CopyFrom(value)
        if value.name in input_shapes:
            shape = copy.type.tensor_type.shape
            del shape.dim[:]
            for dim in input_shapes[value.name]:
                shape.dim.add().dim_value = int(dim)
    light = helper.make_model(graph, opset_imports=list(model.opset_import))
    light.ir_version = model.ir_version
    return light


def _element_count(dims: object) -> int:
    count = 1
    for dim in dims:  # type: ignore[attr-defined]
        count *= int(dim)
    return count


def concrete_shapes(model: ModelProto, input_shapes: Mapping[str, tuple[int, ...]],
                    include_outputs: bool = False,
                    types: dict[str, int] | None = None) -> dict[str, list[int]]:
    """Shapes of the graph's tensors when its inputs have ``input_shapes``.

    Parameters
    ----------
    model
        The model (not modified, its weights not copied).
    input_shapes
        Graph input name to its concrete shape.
    include_outputs
        Also return the graph outputs' shapes.
    types
        When given, receives the inferred element type of each returned tensor.

    Returns
    -------
    dict
        Tensor name to shape, only for tensors whose every dim is a known
        positive number (inference is best effort on vendor models: a graph
        it cannot handle gives an empty dict).
    """
    try:
        inferred = onnx.shape_inference.infer_shapes(_light_copy(model, input_shapes),
                                                     check_type=False, data_prop=True)
    except Exception:  # noqa: BLE001 - inference is best effort on vendor models
        return {}
    shapes: dict[str, list[int]] = {}
    values = [*inferred.graph.value_info, *(inferred.graph.output if include_outputs else ())]
    for value in values:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
            shapes[value.name] = [int(d.dim_value) for d in dims]
            if types is not None:
                types[value.name] = int(value.type.tensor_type.elem_type)
    return shapes
