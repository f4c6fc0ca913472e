"""Add intermediate tensors as graph outputs, as a pure function."""

from __future__ import annotations

import onnx
from onnx import ModelProto, helper

from engine.errors import RewriteError
from engine.graph.constants import ConstantTable
from engine.types import RewriteReport


def _elem_types(model: ModelProto) -> dict[str, int]:
    types: dict[str, int] = {}
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False)
        values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    except Exception:  # noqa: BLE001 - types are optional for outputs
        values = [*model.graph.value_info, *model.graph.input, *model.graph.output]
    for value in values:
        elem = value.type.tensor_type.elem_type
        if elem:
            types[value.name] = elem
    return types


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
    types = _elem_types(model)
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
            if name in types:
                graph.output[-1].type.tensor_type.elem_type = types[name]
            exposed.append(alias)
            notes.append(f"graph input '{name}' exposed through an Identity as '{alias}'")
        elif name not in produced:
            skipped.append((name, "not a tensor of the top-level graph"))
        else:
            value = graph.output.add()
            value.name = name
            if name in types:
                value.type.tensor_type.elem_type = types[name]
            exposed.append(name)
    report = RewriteReport(
        exposed=tuple(exposed), already_outputs=tuple(already), skipped=tuple(skipped),
        original_outputs=original, notes=tuple(notes),
    )
    return new, report
