"""Where each map position looks in the input: the centre of its receptive field.

:func:`engine.graph.inspect.receptive_fields` gives a layer's field size and
jump; a box also needs where position 0 sits, which depends on the padding.
Per spatial axis, in continuous input coordinates (pixel ``i`` spans ``[i, i+1)``),
the centre of position ``j`` is ``start + j * jump``; for a conv or pool with
kernel ``k``, dilation ``d``, stride ``s`` and leading padding ``p``::

    start_out = start_in + ((k - 1) * d / 2 - p) * jump_in
    jump_out = jump_in * s

starting from ``start = 0.5, jump = 1`` at the image input. ``auto_pad`` SAME
padding is computed from the concrete input sizes. Ops that do not move the grid
keep the field of their widest input; a transposed conv or a resize divides the
jump (the centre of position 0 is kept, a good approximation there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import onnx

from engine.graph.constants import ConstantTable
from engine.graph.suffix import topological_nodes
from engine.ops import CONTROL_FLOW_OPS, CONV_OPS, GLOBAL_POOL_OPS, POOL_OPS

#: (start, jump) per spatial axis (y, x).
Field = tuple[tuple[float, float], tuple[float, float]]


def _ints(node: onnx.NodeProto, name: str) -> list[int] | None:
    for attr in node.attribute:
        if attr.name == name:
            return [int(v) for v in attr.ints]
    return None


def _text(node: onnx.NodeProto, name: str) -> str:
    for attr in node.attribute:
        if attr.name == name:
            return str(attr.s.decode("utf-8", "replace"))
    return ""


def _kernel(node: onnx.NodeProto, constants: ConstantTable) -> list[int]:
    kernel = _ints(node, "kernel_shape")
    if kernel:
        return kernel
    if node.op_type in CONV_OPS:
        index = int(CONV_OPS[node.op_type]["weight_input"])  # type: ignore[call-overload]
        shape = constants.shape(node.input[index]) if len(node.input) > index else None
        if shape is not None and len(shape) > 2:
            return list(shape[2:])
    return []


def _leading_pads(node: onnx.NodeProto, kernel: list[int], stride: list[int],
                  dilation: list[int], size: list[int] | None) -> list[float]:
    rank = len(kernel)
    mode = _text(node, "auto_pad")
    if mode in ("SAME_UPPER", "SAME_LOWER") and size is not None and len(size) >= rank:
        pads = []
        for n, k, s, d in zip(size[-rank:], kernel, stride, dilation, strict=True):
            total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
            pads.append(float(total // 2 if mode == "SAME_UPPER" else total - total // 2))
        return pads
    if mode == "VALID":
        return [0.0] * rank
    given = _ints(node, "pads") or [0] * 2 * rank
    return [float(p) for p in given[:rank]]


def _step(node: onnx.NodeProto, field: Field, constants: ConstantTable,
          shapes: Mapping[str, list[int]]) -> Field:
    """The field of a grid-changing node's output from its input's."""
    kernel = _kernel(node, constants)
    if not kernel:
        return field
    rank = len(kernel)
    stride = _ints(node, "strides") or [1] * rank
    dilation = _ints(node, "dilations") or [1] * rank
    pads = _leading_pads(node, kernel, stride, dilation, shapes.get(node.input[0]))
    axes = list(field)
    offset = 2 - rank  # 1-D layers use the x axis only
    for axis in range(rank):
        target = axis + offset
        if not 0 <= target < 2:
            continue
        start, jump = axes[target]
        if node.op_type == "ConvTranspose":
            axes[target] = (start, jump / stride[axis])
        else:
            centre = (kernel[axis] - 1) * dilation[axis] / 2 - pads[axis]
            axes[target] = (start + centre * jump, jump * stride[axis])
    return axes[0], axes[1]


def field_starts(model: onnx.ModelProto, image_input: str,
                 shapes: Mapping[str, list[int]]) -> dict[str, Field]:
    """(start, jump) per spatial axis of every tensor computed from the image input.

    Parameters
    ----------
    model
        The model (not modified).
    image_input
        The name of the image input.
    shapes
        Concrete tensor shapes (for SAME padding); may be partial.
    """
    constants = ConstantTable(model.graph)
    fields: dict[str, Field] = {image_input: ((0.5, 1.0), (0.5, 1.0))}
    for node in topological_nodes(model.graph):
        known = [fields[i] for i in node.input if i in fields]
        if not known or node.op_type in CONTROL_FLOW_OPS or node.op_type in GLOBAL_POOL_OPS:
            continue
        field = max(known, key=lambda f: (f[0][1], f[1][1]))
        if node.op_type in CONV_OPS or node.op_type in POOL_OPS:
            field = _step(node, field, constants, shapes)
        elif node.op_type in ("Resize", "Upsample"):
            size_in = shapes.get(node.input[0])
            size_out = shapes.get(node.output[0]) if node.output else None
            if size_in and size_out and len(size_in) == len(size_out) >= 4:
                field = ((field[0][0], field[0][1] * size_in[-2] / size_out[-2]),
                         (field[1][0], field[1][1] * size_in[-1] / size_out[-1]))
        for out in node.output:
            if out:
                fields[out] = field
    return fields
