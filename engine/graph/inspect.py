"""Find the convolution layers of a model and describe them.

The catalogue is computed from the graph alone (shape inference for shapes);
:func:`engine.featuremaps.extract_feature_maps` confirms shapes with a real run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import ModelProto, NodeProto

from engine.graph.constants import ConstantTable
from engine.ops import ACTIVATION_OPS, CONTROL_FLOW_OPS, CONV_OPS, GLOBAL_POOL_OPS, POOL_OPS
from engine.types import Dim, LayerInfo, ReceptiveField

_RF_AXES = 3
RECURRENT_OPS = frozenset({"LSTM", "GRU", "RNN"})


@dataclass(frozen=True)
class _Follower:
    tensor: str
    op: str


def infer_shapes(model: ModelProto) -> dict[str, tuple[Dim, ...]]:
    """Return declared and inferred tensor shapes by name (empty on failure).

    Parameters
    ----------
    model
        The model; it is not modified.

    Returns
    -------
    dict
        Tensor name to shape (ints, symbolic names, or None for unknown dims).
    """
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, data_prop=True)
    except Exception:  # noqa: BLE001 - shape inference is best effort on vendor models
        inferred = model
    shapes: dict[str, tuple[Dim, ...]] = {}
    graph = inferred.graph
    for value in [*graph.value_info, *graph.input, *graph.output]:
        ttype = value.type.tensor_type
        if not ttype.HasField("shape"):
            continue
        dims: list[Dim] = []
        for d in ttype.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                dims.append(d.dim_param)
            else:
                dims.append(None)
        shapes[value.name] = tuple(dims)
    return shapes


def _ints(node: NodeProto, name: str, default: list[int]) -> tuple[int, ...]:
    """An integer-list attribute of a node, or ``default``."""
    for attr in node.attribute:
        if attr.name == name:
            return tuple(int(v) for v in attr.ints)
    return tuple(default)


def _int(node: NodeProto, name: str, default: int) -> int:
    """An integer attribute of a node, or ``default``."""
    for attr in node.attribute:
        if attr.name == name:
            return int(attr.i)
    return default


def _consumers(graph: onnx.GraphProto) -> dict[str, list[NodeProto]]:
    table: dict[str, list[NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            if name:
                table[name].append(node)
    return table


def _follower(tensor: str, consumers: dict[str, list[NodeProto]], outputs: set[str]
              ) -> _Follower | None:
    """The activation (or QDQ pair) that directly follows ``tensor``, if unambiguous."""
    users = consumers.get(tensor, [])
    ops = sorted(n.op_type for n in users)
    if ops == ["Mul", "Sigmoid"] or ops == ["HardSigmoid", "Mul"]:
        gate = next(n for n in users if n.op_type != "Mul")
        mul = next(n for n in users if n.op_type == "Mul")
        if set(mul.input) == {tensor, gate.output[0]}:
            return _Follower(mul.output[0], "SiLU" if gate.op_type == "Sigmoid" else "HardSwish")
    if len(users) != 1 or tensor in outputs:
        return None
    node = users[0]
    if node.op_type in ACTIVATION_OPS and node.input[0] == tensor:
        return _Follower(node.output[0], node.op_type)
    if node.op_type == "QuantizeLinear":
        dq_users = consumers.get(node.output[0], [])
        if len(dq_users) == 1 and dq_users[0].op_type == "DequantizeLinear":
            return _Follower(dq_users[0].output[0], "QuantizeLinear+DequantizeLinear")
    return None


def _integer_follower(tensor: str, consumers: dict[str, list[NodeProto]], outputs: set[str],
                      static: set[str]) -> _Follower | None:
    """ConvInteger's Cast -> Mul(scale) [-> Add(bias)] dequantisation and its activation."""
    users = consumers.get(tensor, [])
    if not (len(users) == 1 and users[0].op_type == "Cast"):
        return None
    muls = consumers.get(users[0].output[0], [])
    if not (len(muls) == 1 and muls[0].op_type == "Mul"):
        return None
    current, label = muls[0].output[0], "Cast+Mul"
    adds = consumers.get(current, [])
    if (len(adds) == 1 and adds[0].op_type == "Add"
            and all(name in static for name in adds[0].input if name != current)):
        current, label = adds[0].output[0], "Cast+Mul+Add"
    activation = _follower(current, consumers, outputs)
    if activation is not None and not activation.op.startswith("Quantize"):
        return _Follower(activation.tensor, f"{label} (dequantised)+{activation.op}")
    return _Follower(current, f"{label} (dequantised)")


def _static_tensors(graph: onnx.GraphProto, constants: ConstantTable) -> set[str]:
    """Tensors that do not depend on any graph input (constants and ops on constants)."""
    static = {t.name for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" or (node.input and all(
                not name or name in static or name in constants for name in node.input)):
            static.update(out for out in node.output if out)
    return static


def _geometry(node: NodeProto, constants: ConstantTable
              ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], int]:
    """Kernel, stride, dilation, pads (begin only) and group of a conv node."""
    weight_index = int(CONV_OPS[node.op_type]["weight_input"])  # type: ignore[call-overload]
    wshape = constants.shape(node.input[weight_index]) if len(node.input) > weight_index else None
    kernel_attr = _ints(node, "kernel_shape", [])
    if kernel_attr:
        kernel = kernel_attr
    elif wshape is not None and len(wshape) > 2:
        kernel = tuple(wshape[2:])
    else:
        kernel = ()
    rank = len(kernel)
    stride = _ints(node, "strides", [1] * rank)
    dilation = _ints(node, "dilations", [1] * rank)
    pads = _ints(node, "pads", [0] * 2 * rank)
    group = _int(node, "group", 1)
    return kernel, stride, dilation, pads[:rank], group


def _channels(node: NodeProto, constants: ConstantTable, shape: tuple[Dim, ...] | None,
              group: int) -> int | None:
    if shape is not None and len(shape) > 1 and isinstance(shape[1], int):
        return shape[1]
    weight_index = int(CONV_OPS[node.op_type]["weight_input"])  # type: ignore[call-overload]
    wshape = constants.shape(node.input[weight_index]) if len(node.input) > weight_index else None
    if not wshape:
        return None
    return wshape[1] * group if node.op_type == "ConvTranspose" else wshape[0]


def receptive_fields(model: ModelProto) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Propagate receptive field size and effective stride from the inputs.

    Returns, for every top-level tensor that depends on a graph input, arrays of
    length 3 (spatial axes) with the receptive field size and the jump (input
    pixels between two neighbouring output positions).
    """
    graph = model.graph
    constants = ConstantTable(graph)
    init = {t.name for t in graph.initializer}
    fields: dict[str, tuple[np.ndarray, np.ndarray]] = {
        v.name: (np.ones(_RF_AXES), np.ones(_RF_AXES)) for v in graph.input if v.name not in init
    }
    for node in graph.node:
        known = [fields[i] for i in node.input if i in fields]
        if node.op_type in CONTROL_FLOW_OPS:
            # Subgraphs read outer tensors implicitly: the field is unknown from here on.
            for out in node.output:
                if out:
                    fields[out] = (np.full(_RF_AXES, np.nan), np.full(_RF_AXES, np.nan))
            continue
        if not known:
            continue
        size = np.max([k[0] for k in known], axis=0)
        jump = np.max([k[1] for k in known], axis=0)
        if node.op_type in CONV_OPS or node.op_type in POOL_OPS:
            if node.op_type in CONV_OPS:
                kernel, stride, dilation, _, _ = _geometry(node, constants)
            else:
                kernel = _ints(node, "kernel_shape", [])
                stride = _ints(node, "strides", [1] * len(kernel))
                dilation = _ints(node, "dilations", [1] * len(kernel))
            size, jump = size.copy(), jump.copy()
            for axis, (k, s, d) in enumerate(zip(kernel, stride, dilation, strict=False)):
                if axis >= _RF_AXES:
                    break
                if node.op_type == "ConvTranspose":
                    jump[axis] = jump[axis] / s
                    size[axis] = size[axis] + (k - 1) * d * jump[axis]
                else:
                    size[axis] = size[axis] + (k - 1) * d * jump[axis]
                    jump[axis] = jump[axis] * s
        elif node.op_type in GLOBAL_POOL_OPS or node.op_type in RECURRENT_OPS:
            size = np.full(_RF_AXES, np.inf)
        elif node.op_type in ("Resize", "Upsample"):
            has_scales = len(node.input) > 2 and node.input[2]
            scales = constants.value(node.input[2]) if has_scales else None
            if node.op_type == "Upsample" and len(node.input) > 1:
                scales = constants.value(node.input[1])
            if scales is not None and scales.size > 2:
                factors = np.ones(_RF_AXES)
                spatial = scales.reshape(-1)[2:][:_RF_AXES]
                factors[: spatial.size] = np.where(spatial > 0, spatial, 1.0)
                jump = jump / factors
        for out in node.output:
            if out:
                fields[out] = (size, jump)
    return fields


def find_layers(model: ModelProto, shapes: dict[str, tuple[Dim, ...]] | None = None
                ) -> tuple[LayerInfo, ...]:
    """Catalogue every convolution of the model, in graph order.

    Parameters
    ----------
    model
        The loaded model; not modified.
    shapes
        Known tensor shapes (defaults to :func:`infer_shapes`).

    Returns
    -------
    tuple of LayerInfo
        Top-level convs first in graph order (exposable), then convs found in
        control-flow subgraphs (listed, not exposable).
    """
    shapes = infer_shapes(model) if shapes is None else shapes
    graph = model.graph
    constants = ConstantTable(graph)
    consumers = _consumers(graph)
    outputs = {o.name for o in graph.output}
    fields = receptive_fields(model)
    static = _static_tensors(graph, constants)
    used_names = {n.name for n in graph.node if n.name}
    name_counts: dict[str, int] = defaultdict(int)
    for node in graph.node:
        if node.name:
            name_counts[node.name] += 1
    layers: list[LayerInfo] = []
    ordinal = 0
    for node in graph.node:
        if node.op_type in CONTROL_FLOW_OPS:
            continue
        if node.op_type not in CONV_OPS or not node.output or not node.output[0]:
            continue
        name = node.name if node.name and name_counts[node.name] == 1 else ""
        if not name:
            name = f"{node.op_type}_{ordinal}"
            while name in used_names:
                name = f"{name}_{node.output[0]}"
        kernel, stride, dilation, _pads, group = _geometry(node, constants)
        quantized = bool(CONV_OPS[node.op_type]["quantized"])
        conv_out = node.output[0]
        follower = (_integer_follower(conv_out, consumers, outputs, static)
                    if node.op_type == "ConvInteger"
                    else None if quantized else _follower(conv_out, consumers, outputs))
        tensor = follower.tensor if follower else conv_out
        shape = shapes.get(tensor) or shapes.get(conv_out)
        rf = fields.get(tensor)
        rank = len(kernel)
        field = None
        if rf is not None and rank and not np.isnan(rf[0][:rank]).any():
            field = ReceptiveField(
                size=tuple(int(v) if math.isfinite(v) else -1 for v in rf[0][:rank]),
                stride=tuple(max(1, round(v)) for v in rf[1][:rank]),
            )
        layers.append(LayerInfo(
            index=len(layers), name=name, op_type=node.op_type, node_name=node.name,
            conv_output=conv_out, activation=follower.tensor if follower else None,
            activation_op=follower.op if follower else None, tensor=tensor, shape=shape,
            channels=_channels(node, constants, shape, group), kernel=kernel, stride=stride,
            dilation=dilation, group=group, spatial_rank=rank, stage=0, receptive_field=field,
            exposable=True, quantized=quantized,
            raw_tensor=conv_out if quantized and tensor != conv_out else None,
        ))
        ordinal += 1
    layers = _assign_stages(layers)
    layers.extend(_subgraph_layers(graph, start=len(layers)))
    return tuple(layers)


def _assign_stages(layers: list[LayerInfo]) -> list[LayerInfo]:
    """Stage = rank of the layer's effective stride (same resolution, same stage)."""
    from dataclasses import replace

    def key(layer: LayerInfo) -> int:
        if layer.receptive_field is None or not layer.receptive_field.stride:
            return 1
        return max(layer.receptive_field.stride)

    strides = sorted({key(layer) for layer in layers})
    order = {s: i for i, s in enumerate(strides)}
    return [replace(layer, stage=order[key(layer)]) for layer in layers]


def _subgraph_layers(graph: onnx.GraphProto, start: int) -> list[LayerInfo]:
    found: list[LayerInfo] = []
    for node in graph.node:
        if node.op_type not in CONTROL_FLOW_OPS:
            continue
        for attr in node.attribute:
            subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            for sub in subs:
                found.extend(_convs_in(sub, node, attr.name, start + len(found)))
    return found


def _convs_in(sub: onnx.GraphProto, parent: NodeProto, branch: str, start: int) -> list[LayerInfo]:
    constants = ConstantTable(sub)
    result: list[LayerInfo] = []
    parent_name = parent.name or parent.op_type
    for node in sub.node:
        if node.op_type in CONTROL_FLOW_OPS:
            for attr in node.attribute:
                subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
                for nested in subs:
                    result.extend(_convs_in(nested, node, attr.name, start + len(result)))
            continue
        if node.op_type not in CONV_OPS or not node.output:
            continue
        kernel, stride, dilation, _pads, group = _geometry(node, constants)
        name = node.name or f"{node.op_type}_{start + len(result)}"
        result.append(LayerInfo(
            index=start + len(result), name=f"{parent_name}/{branch}/{name}",
            op_type=node.op_type, node_name=node.name, conv_output=node.output[0],
            activation=None, activation_op=None, tensor=node.output[0], shape=None,
            channels=_channels(node, constants, None, group), kernel=kernel, stride=stride,
            dilation=dilation, group=group, spatial_rank=len(kernel), stage=-1,
            receptive_field=None, exposable=False,
            reason=(f"inside the '{branch}' branch of {parent.op_type} node '{parent_name}': "
                    "tensors of control-flow subgraphs cannot be graph outputs"),
            quantized=bool(CONV_OPS[node.op_type]["quantized"]), in_subgraph=True,
        ))
    return result
