"""Look up constant tensors (initializers and Constant nodes) of a graph."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


class ConstantTable:
    """Constant values of a graph by tensor name, decoded lazily.

    Parameters
    ----------
    graph
        The graph whose initializers and Constant nodes are indexed.
    """

    def __init__(self, graph: onnx.GraphProto) -> None:
        self._tensors: dict[str, onnx.TensorProto] = {t.name: t for t in graph.initializer}
        self._cache: dict[str, np.ndarray] = {}
        for node in graph.node:
            if node.op_type == "Constant" and node.output:
                for attr in node.attribute:
                    if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                        self._tensors[node.output[0]] = attr.t
        # DequantizeLinear of a constant weight (QDQ models) is treated as that weight.
        self._dq_source: dict[str, str] = {
            node.output[0]: node.input[0]
            for node in graph.node
            if node.op_type == "DequantizeLinear" and node.input and node.input[0] in self._tensors
        }

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def shape(self, name: str) -> tuple[int, ...] | None:
        """Return the shape of a constant, following QDQ weight DequantizeLinear nodes."""
        name = self._dq_source.get(name, name)
        tensor = self._tensors.get(name)
        return None if tensor is None else tuple(int(d) for d in tensor.dims)

    def value(self, name: str) -> np.ndarray | None:
        """Return the decoded value of a constant, or None if ``name`` is not constant."""
        if name in self._cache:
            return self._cache[name]
        tensor = self._tensors.get(name)
        if tensor is None:
            return None
        array = numpy_helper.to_array(tensor)
        self._cache[name] = array
        return array

    def scalar(self, name: str) -> float | None:
        """Return a single-element constant as float, or None."""
        value = self.value(name)
        if value is None or value.size != 1:
            return None
        return float(value.reshape(-1)[0])
