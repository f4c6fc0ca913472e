"""Graph surgery helpers used by :mod:`tests.variants`."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx
from onnx import numpy_helper

from engine.model_io import iter_graphs
from engine.model_io import iter_tensors as engine_iter_tensors


def subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    """Yield the graphs held by ``node``'s attributes (If branches, Loop bodies...)."""
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def iter_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Yield every initializer and tensor-valued attribute, in all graphs."""
    return engine_iter_tensors(model.graph)


_FLOAT_SHAPE_OPERANDS: dict[str, tuple[int, ...]] = {
    "Resize": (1, 2),
    "Upsample": (1,),
    "Range": (0, 1, 2),
}


def shape_operands(model: onnx.ModelProto) -> set[str]:
    """Names of float tensors whose values decide a shape (Resize scales, Range bounds).

    Parameters
    ----------
    model : onnx.ModelProto
        Model to scan (all graphs).

    Returns
    -------
    set of str
        Tensor names that onnxruntime's load-time shape inference must be able to read.
    """
    names: set[str] = set()
    for graph in iter_graphs(model.graph):
        for node in graph.node:
            for k in _FLOAT_SHAPE_OPERANDS.get(node.op_type, ()):
                if k < len(node.input) and node.input[k]:
                    names.add(node.input[k])
    return names


def ensure_raw_data(model: onnx.ModelProto) -> None:
    """Re-encode tensors stored in typed fields (``float_data``...) as ``raw_data``.

    ``onnx.external_data_helper`` only moves tensors that have ``raw_data``; Paddle
    exports keep Constant values in ``float_data``.
    """
    for tensor in iter_tensors(model):
        if tensor.HasField("raw_data") or tensor.data_location == onnx.TensorProto.EXTERNAL:
            continue
        if tensor.data_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
            continue
        encoded = numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name)
        tensor.CopyFrom(encoded)


def constants_to_initializers(model: onnx.ModelProto) -> int:
    """Turn ``Constant(value=tensor)`` nodes into initializers, in all graphs, in place.

    Parameters
    ----------
    model : onnx.ModelProto
        Model to edit.

    Returns
    -------
    int
        Number of Constant nodes converted.
    """
    converted = 0
    for graph in list(iter_graphs(model.graph)):
        for node in list(graph.node):
            if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
                continue
            values = [a for a in node.attribute if a.name == "value"]
            if len(node.attribute) != 1 or not values:
                continue
            tensor = onnx.TensorProto()
            tensor.CopyFrom(values[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            graph.node.remove(node)
            converted += 1
    return converted


def _names_used_by(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name read anywhere inside ``graph`` (including nested graphs)."""
    used: set[str] = set()
    for sub in iter_graphs(graph):
        for node in sub.node:
            used.update(node.input)
        used.update(o.name for o in sub.output)
    return used


def drop_dead_nodes(graph: onnx.GraphProto) -> int:
    """Remove nodes and initializers that no graph output depends on (top level only).

    Parameters
    ----------
    graph : onnx.GraphProto
        Graph to edit in place.

    Returns
    -------
    int
        Number of nodes removed.
    """
    needed = {o.name for o in graph.output}
    keep: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(node.input)
            for sub in subgraphs(node):
                needed |= _names_used_by(sub)
    removed = len(graph.node) - len(keep)
    keep.reverse()
    del graph.node[:]
    graph.node.extend(keep)
    dead = [t for t in graph.initializer if t.name not in needed]
    for tensor in dead:
        graph.initializer.remove(tensor)
    return removed


def tensor_value(graph: onnx.GraphProto, name: str) -> np.ndarray | None:
    """Value of an initializer or ``Constant`` output named ``name``, else None."""
    for tensor in graph.initializer:
        if tensor.name == name:
            return numpy_helper.to_array(tensor)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
    return None


def find_classifier_flatten(graph: onnx.GraphProto) -> tuple[int, int]:
    """Locate the last Flatten/Reshape that feeds a Gemm or MatMul classifier.

    Parameters
    ----------
    graph : onnx.GraphProto
        Top-level graph.

    Returns
    -------
    tuple of int
        Index of the Flatten/Reshape node in ``graph.node`` and the feature count N
        (the classifier's input width, read from its weight).

    Raises
    ------
    ValueError
        If no such pattern with a constant weight exists.
    """
    producer = {out: k for k, node in enumerate(graph.node) for out in node.output}
    for node in reversed(graph.node):
        if node.op_type not in ("Gemm", "MatMul") or len(node.input) < 2:
            continue
        k = producer.get(node.input[0])
        if k is None or graph.node[k].op_type not in ("Flatten", "Reshape"):
            continue
        weight = tensor_value(graph, node.input[1])
        if weight is None or weight.ndim != 2:
            continue
        trans_b = any(a.name == "transB" and a.i == 1 for a in node.attribute)
        features = weight.shape[1] if node.op_type == "Gemm" and trans_b else weight.shape[0]
        return k, int(features)
    raise ValueError("no Flatten/Reshape -> Gemm/MatMul classifier with a constant weight")
