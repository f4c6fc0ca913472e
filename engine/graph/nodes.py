"""Opset-aware construction of the small ONNX subgraphs Featurescope adds to models.

The nodes built here are appended to a vendor model and must be valid in that
model's default-domain opset, so reductions, Unsqueeze and Resize are written
in the form each opset expects. All names get a prefix so they cannot clash
with the model's own tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: The lowest default-domain opset the fused graphs support (Resize with sizes).
MIN_FUSED_OPSET = 11


class NodeBuilder:
    """Collect nodes and initializers with unique, prefixed names.

    Parameters
    ----------
    opset
        The default-domain opset of the model the nodes are added to.
    taken
        Names already used in the model (tensors and nodes).
    prefix
        Prefix of every new name.
    """

    def __init__(self, opset: int, taken: set[str], prefix: str = "fs_") -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._taken = set(taken)
        self._prefix = prefix
        self._count = 0

    def name(self, hint: str) -> str:
        """Return a new unique name built from ``hint``."""
        while True:
            self._count += 1
            candidate = f"{self._prefix}{hint}_{self._count}"
            if candidate not in self._taken:
                self._taken.add(candidate)
                return candidate

    def reserve(self, name: str) -> str:
        """Claim an exact name (for graph inputs and outputs); it must be free."""
        if name in self._taken:
            raise ValueError(f"name {name!r} is already used in the model")
        self._taken.add(name)
        return name

    def const(self, value: np.ndarray | np.generic | float | int, hint: str = "const") -> str:
        """Add an initializer and return its name."""
        array = np.asarray(value)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None,
           output: str | None = None, **attrs: Any) -> str:
        """Append one node with a single output and return the output name."""
        out = output if output is not None else self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type),
                                           **attrs))
        return out

    def reduce(self, op_type: str, x: str, axes: list[int], keepdims: bool) -> str:
        """ReduceMin/Max/Mean/Sum over ``axes`` (an attribute or an input, per opset)."""
        keep = int(keepdims)
        if self.opset >= (13 if op_type == "ReduceSum" else 18):
            return self.op(op_type, [x, self.const(np.array(axes, np.int64), "axes")],
                           keepdims=keep)
        return self.op(op_type, [x], axes=axes, keepdims=keep)

    def reshape(self, x: str, shape: list[int]) -> str:
        """Reshape to a constant shape (0 copies a dim, -1 infers one)."""
        return self.op("Reshape", [x, self.const(np.array(shape, np.int64), "shape")])

    def cast(self, x: str, elem_type: int) -> str:
        """Cast to an ONNX element type."""
        return self.op("Cast", [x], to=elem_type)

    def resize_bilinear(self, x: str, height: int, width: int, align_corners: bool) -> str:
        """Bilinear Resize of an NCHW tensor to (height, width) by output size."""
        roi = self.const(np.zeros(0, np.float32), "roi")
        scales = self.const(np.zeros(0, np.float32), "scales")
        n_c = self.op("Slice", [self.op("Shape", [x]), self.const(np.array([0], np.int64)),
                                self.const(np.array([2], np.int64))])
        sizes = self.op("Concat", [n_c, self.const(np.array([height, width], np.int64))],
                        axis=0)
        mode = "align_corners" if align_corners else "half_pixel"
        return self.op("Resize", [x, roi, scales, sizes], mode="linear",
                       coordinate_transformation_mode=mode)

    def greater_or_equal(self, a: str, b: str) -> str:
        """``a >= b`` as a boolean tensor (GreaterOrEqual from opset 12, else Not(Less))."""
        if self.opset >= 12:
            return self.op("GreaterOrEqual", [a, b])
        return self.op("Not", [self.op("Less", [a, b])])


def default_opset(model: onnx.ModelProto) -> int:
    """Return the model's default-domain opset (0 when absent)."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 0


def used_names(model: onnx.ModelProto) -> set[str]:
    """Every tensor and node name of the top-level graph."""
    graph = model.graph
    names = {v.name for v in [*graph.input, *graph.output, *graph.value_info]}
    names.update(t.name for t in graph.initializer)
    for node in graph.node:
        names.add(node.name)
        names.update(node.input)
        names.update(node.output)
    names.discard("")
    return names


def elem_type_of(model: onnx.ModelProto, name: str) -> int:
    """The element type of a graph input or output (FLOAT when unknown)."""
    for value in [*model.graph.input, *model.graph.output]:
        if value.name == name and value.type.tensor_type.elem_type:
            return int(value.type.tensor_type.elem_type)
    return TensorProto.FLOAT
