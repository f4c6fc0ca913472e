"""Add intermediate tensors as graph outputs, as a pure function."""

from __future__ import annotations

import onnx
from onnx import ModelProto, TensorProto, helper

from engine.errors import RewriteError
from engine.graph.constants import ConstantTable
from engine.types import RewriteReport

#: Ops whose output element type is given by one of their inputs (by index).
_TYPE_FROM_INPUT: dict[str, int] = {"QLinearConv": 7, "QuantizeLinear": 2, "DequantizeLinear": 1,
                                    "QLinearMatMul": 7, "QLinearAdd": 7}
_FIXED_TYPE: dict[str, int] = {"ConvInteger": TensorProto.INT32, "MatMulInteger": TensorProto.INT32,
                               "Shape": TensorProto.INT64, "Size": TensorProto.INT64}


class _TypeTable:
    """Element types of tensors, derived cheaply from producers (no shape inference).

    Most ops keep their first input's type; quantisation ops take the type of
    their zero-point or scale input; Cast says its type. Unknown stays 0.
    """

    def __init__(self, model: ModelProto) -> None:
        graph = model.graph
        self.types: dict[str, int] = {}
        for value in [*graph.input, *graph.output, *graph.value_info]:
            if value.type.tensor_type.elem_type:
                self.types[value.name] = value.type.tensor_type.elem_type
        for tensor in graph.initializer:
            self.types[tensor.name] = tensor.data_type
        self.producer: dict[str, onnx.NodeProto] = {
            out: node for node in graph.node for out in node.output if out}

    def of(self, name: str) -> int:
        """The element type of ``name`` (0 if it cannot be told)."""
        pending = [name]
        while pending:
            current = pending[-1]
            if current in self.types:
                pending.pop()
                continue
            node = self.producer.get(current)
            if node is None:
                self.types[current] = 0
                pending.pop()
                continue
            source = self._source(node)
            if source is None:
                self.types[current] = self._direct(node)
                pending.pop()
            elif source in self.types:
                self.types[current] = self.types[source]
                pending.pop()
            elif source in pending:  # a cycle (damaged graph): the type stays unknown
                self.types[current] = 0
                pending.pop()
            else:
                pending.append(source)
        return self.types[name]

    @staticmethod
    def _direct(node: onnx.NodeProto) -> int:
        if node.op_type in _FIXED_TYPE:
            return _FIXED_TYPE[node.op_type]
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to":
                return int(attr.i)
            if node.op_type == "Constant" and attr.name == "value":
                return int(attr.t.data_type)
        if node.op_type == "DequantizeLinear":
            return TensorProto.FLOAT
        return 0

    @staticmethod
    def _source(node: onnx.NodeProto) -> str | None:
        if node.op_type in ("Cast", "Constant") or node.op_type in _FIXED_TYPE:
            return None
        index = _TYPE_FROM_INPUT.get(node.op_type, 0)
        if index >= len(node.input) or not node.input[index]:
            return None
        return str(node.input[index])


def expose_tensors(model: ModelProto, tensors: list[str] | tuple[str, ...]
                   ) -> tuple[ModelProto, RewriteReport]:
    """Return a copy of ``model`` whose graph also outputs ``tensors``.

    The original outputs stay first and unchanged. ``model`` is never mutated.
    Tensors that are already outputs are reported, not duplicated; graph inputs
    are exposed through an Identity node; constants and unknown names are
    skipped with a reason.

    Parameters
    ----------
    model
        The source model.
    tensors
        Names of top-level tensors to expose, in the order wanted.

    Returns
    -------
    (ModelProto, RewriteReport)
        The rewritten copy and what was done.

    Raises
    ------
    RewriteError
        If the copy cannot be built (for example a model over 2 GB).
    """
    try:
        new = ModelProto()
        new.CopyFrom(model)
    except Exception as exc:
        raise RewriteError("The model could not be copied for rewriting.", str(exc)) from exc
    graph = new.graph
    original = tuple(o.name for o in graph.output)
    produced = {out for node in graph.node for out in node.output if out}
    inputs = {i.name for i in graph.input}
    constants = ConstantTable(graph)
    types = _TypeTable(model)
    exposed: list[str] = []
    already: list[str] = []
    skipped: list[tuple[str, str]] = []
    notes: list[str] = []
    seen: set[str] = set()
    for name in tensors:
        if name in seen:
            continue
        seen.add(name)
        if name in original:
            already.append(name)
        elif name in constants:
            skipped.append((name, "a constant, not computed from the input"))
        elif name in inputs and name not in produced:
            alias = f"{name}__featurescope_exposed"
            graph.node.append(helper.make_node("Identity", [name], [alias],
                                               name=f"featurescope_expose_{name}"))
            graph.output.append(helper.make_empty_tensor_value_info(alias))
            if types.of(name):
                graph.output[-1].type.tensor_type.elem_type = types.of(name)
            exposed.append(alias)
            notes.append(f"graph input '{name}' exposed through an Identity as '{alias}'")
        elif name not in produced:
            skipped.append((name, "not a tensor of the top-level graph"))
        else:
            value = graph.output.add()
            value.name = name
            if types.of(name):
                value.type.tensor_type.elem_type = types.of(name)
            exposed.append(name)
    report = RewriteReport(
        exposed=tuple(exposed), already_outputs=tuple(already), skipped=tuple(skipped),
        original_outputs=original, notes=tuple(notes),
    )
    return new, report
