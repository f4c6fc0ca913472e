"""In-graph per-channel reductions: what a dataset scan fetches from each run.

For every scanned layer the model gets a few nodes that turn the layer's map
(the tensor :func:`engine.featuremaps.extract_feature_maps` saves: post
activation, dequantised for QLinearConv) into four ``(N, C)`` tensors: the
maximum over space, the row and column of the first arg-max in row-major order,
and the mean over space. Only these leave the session, never the maps, and they
leave packed: every layer's channels side by side in two outputs, one float32
(maxima, then means) and one int64 (rows, then columns), so a run copies two
arrays out, not four per layer: on CUDA two device-to-host copies per batch
instead of about two hundred for the demo (the same speed on the CPU).

A 2-D map of known width (opset 12 and newer) is reduced row first: a
``MaxPool`` over each whole row gives the row maxima (onnxruntime runs it, like
``GlobalAveragePool``, on its blocked NCHWc layout), their ``ArgMax`` the first
row holding the maximum, and ``GatherND`` fetches just that row, whose
``ArgMax`` is the column: exactly the first arg-max in row-major order, for
about 12% less than a ``TopK`` over the whole flattened map. Other maps use
``TopK`` with k=1 (``ReduceMax`` and ``ArgMax`` before opset 11), whose flat index
is split into row and column in the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from engine.errors import InputError, RewriteError
from engine.graph.constants import ConstantTable
from engine.graph.nodes import NodeBuilder, default_opset, used_names
from engine.model_io import LoadedModel
from engine.types import LayerInfo

#: The lowest default-domain opset the reductions are written for (onnxruntime's).
MIN_SCAN_OPSET = 7
#: From this opset on, maps not reduced row first use TopK (``k`` as an input, the
#: lower index among equal values by the spec); older models use ReduceMax and
#: ArgMax, whose onnxruntime kernels also pick the first (tested).
TOPK_OPSET = 11
#: From this opset on, 2-D maps are reduced row first (GatherND with ``batch_dims``).
ROW_FIRST_OPSET = 12


@dataclass(frozen=True)
class LayerReduction:
    """The names of one layer's reductions in the graph, each ``(N, C)``.

    ``max`` and ``mean`` float32; ``y`` and ``x`` int64, the row and column of the
    first arg-max in row-major order (a 1-D map has one row).
    """

    layer: LayerInfo
    max: str
    y: str
    x: str
    mean: str


@dataclass(frozen=True)
class ReducedModel:
    """A model whose graph also outputs per-channel reductions of conv layers.

    ``values`` (float32) and ``places`` (int64) are its two new outputs, each
    ``(N, 2 * channels)`` with every layer's channels side by side in layer order:
    maxima then means, rows then columns.
    """

    proto: onnx.ModelProto
    layers: tuple[LayerReduction, ...]
    original_outputs: tuple[str, ...]
    values: str
    places: str

    @property
    def fetch(self) -> tuple[str, ...]:
        """The names of the two packed outputs."""
        return (self.values, self.places)


def _dequantize(builder: NodeBuilder, layer: LayerInfo, x: str, elem_type: int,
                constants: ConstantTable, producer_inputs: dict[str, list[str]]) -> str:
    """Float32 values exactly as :class:`~engine.featuremaps.LayerDecoder` computes them.

    A float32 map is used as it is (a Cast would keep onnxruntime's blocked
    NCHWc layout from feeding the global pooling directly).
    """
    if elem_type == TensorProto.FLOAT:
        return x
    as_float = builder.cast(x, TensorProto.FLOAT)
    if layer.op_type != "QLinearConv" or layer.tensor != layer.conv_output:
        return as_float
    inputs = producer_inputs.get(layer.conv_output, [])
    scale = constants.value(inputs[6]) if len(inputs) > 6 else None
    zero = constants.value(inputs[7]) if len(inputs) > 7 and inputs[7] else None
    if scale is None:
        return as_float
    if zero is not None:
        as_float = builder.op("Sub", [as_float, builder.const(
            np.asarray(zero, dtype=np.float32), "zero_point")])
    return builder.op("Mul", [as_float, builder.const(
        np.asarray(scale, dtype=np.float32), "scale")])


def _first_argmax_flat(builder: NodeBuilder, values: str, width: int | None
                       ) -> tuple[str, str, str]:
    """(max, row, column), each (N, C, 1), over the flattened map.

    TopK k=1 (opset 11 on) or ReduceMax and ArgMax give the maximum and its first
    flat index, split by the map's width (its last axis when not given) with
    integer Div, Mul and Sub (Mod only exists from opset 10).
    """
    flat = builder.reshape(values, [0, 0, -1])
    if builder.opset >= TOPK_OPSET:
        peak, argmax = builder.name("max"), builder.name("argmax")
        builder.nodes.append(helper.make_node(
            "TopK", [flat, builder.const(np.array([1], np.int64), "k")], [peak, argmax],
            name=builder.name("TopK"), axis=2, largest=1, sorted=1))
    else:
        peak = builder.reduce("ReduceMax", flat, [2], keepdims=True)
        argmax = builder.op("ArgMax", [flat], axis=2, keepdims=1)
    if width:
        span = builder.const(np.array(width, np.int64), "width")
    else:
        span = builder.op("Gather", [builder.op("Shape", [values]),
                                     builder.const(np.array(-1, np.int64), "last")], axis=0)
    row = builder.op("Div", [argmax, span])
    return peak, row, builder.op("Sub", [argmax, builder.op("Mul", [row, span])])


def _first_argmax_by_rows(builder: NodeBuilder, values: str, width: int
                          ) -> tuple[str, str, str]:
    """(max, row, column) of the first arg-max, each (N, C, 1), of an (N, C, H, ``width``) map.

    The first arg-max in row-major order lies in the first row that holds the
    maximum, at that row's first maximum; ``ArgMax`` picks first occurrences.
    """
    rows = builder.reshape(builder.op("MaxPool", [values], kernel_shape=[1, width],
                                      strides=[1, width]), [0, 0, -1])  # (N, C, H)
    peak = builder.reduce("ReduceMax", rows, [2], keepdims=True)
    row = builder.op("ArgMax", [rows], axis=2, keepdims=1)  # (N, C, 1)
    line = builder.op("GatherND", [values, row], batch_dims=2)  # (N, C, W)
    column = builder.op("ArgMax", [line], axis=2, keepdims=1)
    return peak, row, column


def reduce_model(model: LoadedModel, layers: list[LayerInfo],
                 elem_types: dict[str, int] | None = None,
                 widths: dict[str, int] | None = None, row_first: bool = True
                 ) -> ReducedModel:
    """Return a copy of the model that also outputs per-channel reductions of ``layers``.

    The original outputs stay first and unchanged; the model is not mutated.

    Parameters
    ----------
    model
        The loaded model.
    layers
        Exposable layers (from :func:`engine.featuremaps.select_layers`) with
        one or more spatial axes.
    elem_types
        Element types of the layers' tensors where known (float32 maps are
        reduced without a Cast); unknown ones get a Cast to float32.
    widths
        The width of each layer's map, by tensor name, where known: 2-D maps of
        known width are reduced row first; the others with ``TopK``.
    row_first
        False reduces every map over its flattened values (for comparisons).

    Returns
    -------
    ReducedModel

    Raises
    ------
    InputError
        No layer, a layer without spatial axes, or a model whose opset is too old.
    RewriteError
        The model cannot be copied.
    """
    if not layers:
        raise InputError("A scan needs at least one layer.")
    opset = default_opset(model.proto)
    if opset < MIN_SCAN_OPSET:
        raise InputError(f"Dataset scans need ONNX opset {MIN_SCAN_OPSET} or newer; this "
                         f"model uses opset {opset}.")
    try:
        new = onnx.ModelProto()
        new.CopyFrom(model.proto)
    except Exception as exc:
        raise RewriteError("The model could not be copied for rewriting.", str(exc)) from exc
    graph = new.graph
    builder = NodeBuilder(opset, used_names(new), prefix="fs_scan_")
    constants = ConstantTable(graph)
    producer_inputs = {n.output[0]: list(n.input) for n in graph.node if n.output}
    original = tuple(o.name for o in graph.output)
    reductions: list[LayerReduction] = []
    for layer in layers:
        if not layer.exposable or layer.spatial_rank < 1:
            raise InputError(f"Layer '{layer.name}' has no spatial map to scan.")
        elem = (elem_types or {}).get(layer.tensor, 0)
        values = _dequantize(builder, layer, layer.tensor, elem, constants, producer_inputs)
        width = (widths or {}).get(layer.tensor)
        if row_first and layer.spatial_rank == 2 and width and opset >= ROW_FIRST_OPSET:
            peak, row, column = _first_argmax_by_rows(builder, values, width)
        else:
            peak, row, column = _first_argmax_flat(builder, values, width)
        # GlobalAveragePool reads onnxruntime's blocked layout without a reorder.
        mean = builder.op("GlobalAveragePool", [values])
        peak, row, column, mean = (builder.reshape(t, [0, -1]) for t in (peak, row, column, mean))
        reductions.append(LayerReduction(layer=layer, max=peak, y=row, x=column, mean=mean))
    packed_values = builder.op("Concat", [r.max for r in reductions]
                               + [r.mean for r in reductions], axis=1,
                               output=builder.name("values"))
    packed_places = builder.op("Concat", [r.y for r in reductions]
                               + [r.x for r in reductions], axis=1,
                               output=builder.name("places"))
    graph.node.extend(builder.nodes)
    graph.initializer.extend(builder.initializers)
    graph.output.extend([
        helper.make_tensor_value_info(packed_values, TensorProto.FLOAT, None),
        helper.make_tensor_value_info(packed_places, TensorProto.INT64, None)])
    return ReducedModel(proto=new, layers=tuple(reductions), original_outputs=original,
                        values=packed_values, places=packed_places)

