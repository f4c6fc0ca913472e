"""Extract the part of a model after a layer: feed it activations, get the outputs.

Methods that perturb a layer (Ablation-CAM) need only the nodes downstream of
that layer. :func:`extract_suffix` cuts the graph at a tensor: the nodes that
depend on it (plus constant-only nodes they need) form the suffix; tensors it
needs from before the cut (skip connections, shapes computed from the input)
become *side inputs*, fed with their values from one full run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import onnx
from onnx import ModelProto, helper

from engine.errors import RewriteError


@dataclass(frozen=True)
class Suffix:
    """A suffix model and the tensors it takes."""

    model: ModelProto
    cut: str
    side_inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    node_count: int
    total_nodes: int


def _subgraph_refs(node: onnx.NodeProto) -> Iterator[str]:
    """Names a control-flow node's subgraphs read from the enclosing scope."""
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for sub in graphs:
            local = {i.name for i in sub.input} | {t.name for t in sub.initializer}
            for inner in sub.node:
                local.update(inner.output)
            for inner in sub.node:
                for name in [*inner.input, *_subgraph_refs(inner)]:
                    if name and name not in local:
                        yield name


def node_inputs(node: onnx.NodeProto) -> list[str]:
    """Every tensor a node reads, its subgraphs' outer references included."""
    return [i for i in node.input if i] + list(_subgraph_refs(node))


def topological_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The graph's nodes in dependency order (some exporters append nodes out of order)."""
    producer: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        for out in node.output:
            if out:
                producer[out] = index
    order: list[int] = []
    state = [0] * len(graph.node)
    for root in range(len(graph.node)):
        if state[root]:
            continue
        stack = [(root, False)]
        while stack:
            index, expanded = stack.pop()
            if expanded:
                if state[index] != 2:
                    state[index] = 2
                    order.append(index)
                continue
            if state[index]:
                continue
            state[index] = 1
            stack.append((index, True))
            for name in node_inputs(graph.node[index]):
                dep = producer.get(name)
                if dep is not None and not state[dep]:
                    stack.append((dep, False))
    return [graph.node[i] for i in order]


def extract_suffix(model: ModelProto, cut: str, elem_types: Mapping[str, int]) -> Suffix:
    """Return the model's nodes downstream of ``cut`` as a model taking ``cut``.

    Parameters
    ----------
    model
        The source model; never mutated.
    cut
        The tensor to cut at (a layer's output).
    elem_types
        ONNX element types of ``cut`` and of tensors that may become side
        inputs (from a real run); unknown ones default to float.

    Returns
    -------
    Suffix

    Raises
    ------
    RewriteError
        ``cut`` is not a tensor of the top-level graph or no output depends on it.
    """
    graph = model.graph
    produced = {o for n in graph.node for o in n.output if o}
    if cut not in produced:
        raise RewriteError(f"'{cut}' is not computed by the model's top-level graph.")
    graph_inputs = {v.name for v in graph.input} - {t.name for t in graph.initializer}
    from_cut: set[str] = {cut}
    from_input: set[str] = set(graph_inputs)
    nodes = topological_nodes(graph)
    for node in nodes:
        inputs = node_inputs(node)
        outs = [o for o in node.output if o]
        if cut in outs:
            from_input.update(outs)
            continue
        if any(i in from_cut for i in inputs):
            from_cut.update(outs)
        if any(i in from_input for i in inputs):
            from_input.update(outs)
    outputs = tuple(o.name for o in graph.output)
    if not any(o in from_cut for o in outputs):
        raise RewriteError(f"No model output depends on '{cut}'.")
    needed = set(outputs)
    keep: list[onnx.NodeProto] = []
    side: set[str] = set()
    for node in reversed(nodes):
        outs = [o for o in node.output if o]
        if not any(o in needed for o in outs):
            continue
        if cut in outs:
            continue
        depends = any(o in from_cut for o in outs)
        if depends or not any(o in from_input for o in outs):
            keep.append(node)
            needed.update(node_inputs(node))
        else:
            side.update(o for o in outs if o in needed)
    keep.reverse()
    side.update(n for n in needed if n in graph_inputs)
    side.discard(cut)
    used = {i for n in keep for i in node_inputs(n)} | set(outputs)
    side_inputs = tuple(sorted(s for s in side if s in used))
    new = ModelProto()
    new.CopyFrom(model)
    g = new.graph
    del g.node[:]
    g.node.extend(keep)
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.input[:]
    for name in (cut, *side_inputs):
        g.input.append(helper.make_tensor_value_info(name, elem_types.get(name, 1), None))
    del g.value_info[:]
    return Suffix(model=new, cut=cut, side_inputs=side_inputs, outputs=outputs,
                  node_count=len(keep), total_nodes=len(graph.node))
