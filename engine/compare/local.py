"""Local error: B's layers computed from A's activations at their inputs.

Every B tensor matched to an A tensor (a *cut*) becomes a graph input of a new
model, fed with A's value of its partner; the node that computed it keeps
computing it under a new name, which is exposed. So each exposed layer is
computed by B's own nodes between the cuts (its conv, activation, quantisation,
and whatever else lies between it and the previous matched layers) from A's
activations: the error a layer adds by itself, apart from what it inherits.
All the layers of a window share one model and one run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import onnx
from onnx import ModelProto, helper

from engine.errors import RewriteError
from engine.graph.suffix import node_inputs, topological_nodes
from engine.ops import CONV_OPS

LOCAL_SUFFIX = "__fs_local"


@dataclass(frozen=True)
class LocalModel:
    """A model computing B's layers from A's activations."""

    model: ModelProto
    outputs: tuple[tuple[str, str], ...]
    cut_types: tuple[tuple[str, int], ...]
    graph_inputs: tuple[str, ...]
    node_count: int


class CutGraph:
    """B's graph with the matched tensors as cuts: which cuts each layer depends on.

    Parameters
    ----------
    model
        Model B.
    cuts
        Tensors of B matched to tensors of A (the layers whose local error is wanted).
    """

    def __init__(self, model: ModelProto, cuts: set[str]) -> None:
        self.model = model
        graph = model.graph
        self.cuts = set(cuts)
        self._nodes = topological_nodes(graph)
        self._producer = {out: i for i, node in enumerate(self._nodes)
                          for out in node.output if out}
        self._initializers = {t.name for t in graph.initializer}
        self._inputs = [v.name for v in graph.input if v.name not in self._initializers]

    def walk(self, tensor: str) -> tuple[set[int], set[str], set[str]]:
        """Nodes computing ``tensor`` from the cuts, and the cuts and graph inputs it reads.

        Raises
        ------
        RewriteError
            ``tensor`` is not computed by the top-level graph.
        """
        start = self._producer.get(tensor)
        if start is None:
            raise RewriteError(f"'{tensor}' is not computed by the model's top-level graph.")
        nodes: set[int] = set()
        cuts: set[str] = set()
        inputs: set[str] = set()
        pending = [start]
        while pending:
            index = pending.pop()
            if index in nodes:
                continue
            nodes.add(index)
            for name in node_inputs(self._nodes[index]):
                if name in self.cuts:
                    cuts.add(name)
                elif name in self._producer:
                    pending.append(self._producer[name])
                elif name not in self._initializers:
                    inputs.add(name)
        return nodes, cuts, inputs & set(self._inputs)

    def convs_between(self, tensor: str) -> int:
        """How many conv nodes besides ``tensor``'s own lie between it and its cuts."""
        nodes = self.walk(tensor)[0]
        return max(0, sum(1 for i in nodes if self._nodes[i].op_type in CONV_OPS) - 1)

    def build(self, wanted: list[str], elem_types: Mapping[str, int]) -> LocalModel:
        """The model computing ``wanted`` (cuts) from the cuts they read.

        Parameters
        ----------
        wanted
            Cut tensors to compute locally.
        elem_types
            ONNX element types of the cuts read and of the wanted tensors.
        """
        nodes: set[int] = set()
        cuts: set[str] = set()
        inputs: set[str] = set()
        for tensor in wanted:
            more_nodes, more_cuts, more_inputs = self.walk(tensor)
            nodes |= more_nodes
            cuts |= more_cuts
            inputs |= more_inputs
        renamed = {tensor: tensor + LOCAL_SUFFIX for tensor in wanted}
        kept: list[onnx.NodeProto] = []
        for index in sorted(nodes):
            node = onnx.NodeProto()
            node.CopyFrom(self._nodes[index])
            for k, out in enumerate(node.output):
                if out in renamed:
                    node.output[k] = renamed[out]
            kept.append(node)
        used = {name for node in kept for name in node_inputs(node)}
        source = self.model.graph
        graph = helper.make_graph(
            kept, f"{source.name or 'graph'}_local",
            [value for value in source.input if value.name in inputs]
            + [helper.make_tensor_value_info(c, elem_types.get(c, onnx.TensorProto.FLOAT), None)
               for c in sorted(cuts)],
            [helper.make_tensor_value_info(renamed[t], elem_types.get(t, onnx.TensorProto.FLOAT),
                                           None) for t in wanted],
            initializer=[t for t in source.initializer if t.name in used])
        model = helper.make_model(graph, opset_imports=list(self.model.opset_import))
        model.ir_version = self.model.ir_version
        model.functions.extend(self.model.functions)
        types = tuple((c, int(elem_types.get(c, onnx.TensorProto.FLOAT))) for c in sorted(cuts))
        return LocalModel(model=model, outputs=tuple(renamed.items()), cut_types=types,
                          graph_inputs=tuple(sorted(inputs)), node_count=len(kept))
