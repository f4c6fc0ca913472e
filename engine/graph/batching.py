"""Batch dimension: make it dynamic where the graph allows, and prove it numerically.

Vendor models often declare a fixed batch of 1, and some hard-code it in a
Reshape (``[1, 1280]``). :func:`make_batch_dynamic` returns a copy with a
symbolic batch on the given inputs and outputs and every such Reshape shape
rewritten to copy the batch dim (``0``); :func:`verify_batching` then checks
that a batch of two distinct items gives each item's batch-1 outputs. A model
that fails the check runs one pass at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import ModelProto, numpy_helper

from engine.errors import EngineError
from engine.graph.constants import ConstantTable

BATCH_DIM = "fs_batch"
RunFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class BatchRewrite:
    """What :func:`make_batch_dynamic` changed."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    reshapes: tuple[str, ...]


def _set_batch(value: onnx.ValueInfoProto) -> bool:
    ttype = value.type.tensor_type
    if not ttype.HasField("shape") or not ttype.shape.dim:
        return False
    dim = ttype.shape.dim[0]
    if dim.HasField("dim_param") and dim.dim_param:
        return False
    dim.Clear()
    dim.dim_param = BATCH_DIM
    return True


def _batch_dependent(graph: onnx.GraphProto, inputs: set[str]) -> set[str]:
    from engine.graph.suffix import topological_nodes

    found = set(inputs)
    for node in topological_nodes(graph):
        if any(i in found for i in node.input):
            found.update(o for o in node.output if o)
    return found


def make_batch_dynamic(model: ModelProto, batch_inputs: list[str]
                       ) -> tuple[ModelProto, BatchRewrite]:
    """Return a copy with a symbolic batch dim and batch-1 Reshapes rewritten.

    Parameters
    ----------
    model
        The source model; never mutated.
    batch_inputs
        Graph inputs whose first dim is the batch.

    Returns
    -------
    (ModelProto, BatchRewrite)
        The copy and what changed. ``value_info`` is dropped (onnxruntime
        infers shapes again), so stale batch-1 shapes cannot conflict.
    """
    new = ModelProto()
    new.CopyFrom(model)
    graph = new.graph
    changed_inputs = tuple(v.name for v in graph.input if v.name in batch_inputs
                           and _set_batch(v))
    changed_outputs = tuple(v.name for v in graph.output
                            if v.type.tensor_type.HasField("shape")
                            and v.type.tensor_type.shape.dim
                            and v.type.tensor_type.shape.dim[0].dim_value == 1
                            and _set_batch(v))
    del graph.value_info[:]
    constants = ConstantTable(graph)
    dependent = _batch_dependent(graph, set(batch_inputs))
    rewritten: list[str] = []
    for index, node in enumerate(graph.node):
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[0] not in dependent:
            continue
        if any(a.name == "allowzero" and a.i == 1 for a in node.attribute):
            continue
        shape = constants.value(node.input[1])
        if shape is None or shape.ndim != 1 or shape.size < 2 or int(shape[0]) != 1:
            continue
        fixed = shape.astype(np.int64).copy()
        fixed[0] = 0
        name = f"{node.input[1]}__fs_batch_{index}"
        graph.initializer.append(numpy_helper.from_array(fixed, name))
        node.input[1] = name
        rewritten.append(node.name or f"Reshape #{index}")
    return new, BatchRewrite(changed_inputs, changed_outputs, tuple(rewritten))


def _second_item(value: np.ndarray) -> np.ndarray:
    """A different but plausible item: the first one scaled (integers halved)."""
    if value.dtype.kind in "iub":
        return (value // 2).astype(value.dtype) if value.dtype.kind != "b" else value
    return (value * 0.5 + 0.1).astype(value.dtype)


def batch_feeds(feeds: dict[str, np.ndarray], batch_inputs: list[str], items: int
                ) -> dict[str, np.ndarray]:
    """Tile the batch-1 ``batch_inputs`` of ``feeds`` to ``items`` along axis 0."""
    return {name: (np.repeat(value, items, axis=0) if name in batch_inputs else value)
            for name, value in feeds.items()}


def verify_batching(run: RunFn, feeds: dict[str, np.ndarray], batch_inputs: list[str],
                    rtol: float = 1e-3) -> tuple[bool, float, str]:
    """Check that a batch of two distinct items reproduces each item's batch-1 outputs.

    Parameters
    ----------
    run
        Runs the model (feeds to outputs).
    feeds
        Batch-1 feeds.
    batch_inputs
        Inputs that carry the batch dim.
    rtol
        Allowed difference relative to ``max(1, max |output|)``.

    Returns
    -------
    (bool, float, str)
        Whether it passed, the worst difference and, if it failed, why.
    """
    second = {n: (_second_item(v) if n in batch_inputs else v) for n, v in feeds.items()}
    try:
        one = run(feeds)
        two = run(second)
        both = run({n: (np.concatenate([v, second[n]], axis=0) if n in batch_inputs else v)
                    for n, v in feeds.items()})
    except EngineError as exc:
        return False, float("inf"), exc.message
    worst = 0.0
    for name, ref in one.items():
        got = np.asarray(both.get(name))
        expected = np.concatenate([np.asarray(ref), np.asarray(two[name])], axis=0)
        if got.shape != expected.shape:
            return False, float("inf"), f"output '{name}' has shape {list(got.shape)} at batch 2"
        ref64, got64 = expected.astype(np.float64), got.astype(np.float64)
        diff = float(np.max(np.abs(ref64 - got64), initial=0.0))
        scale = max(1.0, float(np.max(np.abs(ref64), initial=0.0)))
        if not diff <= rtol * scale:
            return False, diff, f"output '{name}' differs by {diff:.3g} at batch 2"
        worst = max(worst, diff)
    return True, worst, ""
