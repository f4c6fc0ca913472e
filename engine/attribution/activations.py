"""The CAM layer: which one, and its activations from the context's one reference run.

The reference run of an attribution is the model with the CAM layer exposed
(:func:`reference_session`): one run gives both the outputs the target is read
from and the layer's activations, so no method runs the model again to read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from engine.featuremaps import (
    LayerDecoder,
    exposed_model,
    exposed_tensors,
    model_layers,
    select_layers,
    tensor_shapes,
)
from engine.graph.constants import ConstantTable
from engine.graph.suffix import topological_nodes
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.session import Session, SessionCache
from engine.types import LayerInfo


@dataclass(frozen=True)
class Activations:
    """One layer's activations on the input.

    ``maps`` is float (K, h, w) in real units (dequantised); ``raw`` is the
    tensor as the model produces it, [1, K, h, w] (integers for QLinearConv).
    """

    layer: LayerInfo
    maps: np.ndarray
    raw: np.ndarray


def layer_shapes(model: LoadedModel, input_shapes: dict[str, tuple[int, ...]]
                 ) -> dict[str, list[int]]:
    """Concrete tensor shapes for these input shapes (cached per model and shapes)."""
    return tensor_shapes(model, input_shapes)


def tensor_layer(model: LoadedModel, tensor: str, shape: list[int] | None) -> LayerInfo:
    """A CAM layer for any 4-D tensor of the graph (a block output, a concatenation, ...).

    The catalogue's layer is used when the tensor is a conv layer's; otherwise
    a layer description without receptive field is made for it.
    """
    for layer in model_layers(model):
        if tensor in (layer.tensor, layer.name):
            return layer
    producer = next((n for n in model.proto.graph.node if tensor in n.output), None)
    channels = int(shape[1]) if shape is not None and len(shape) == 4 else None
    return LayerInfo(
        index=-1, name=tensor, op_type=producer.op_type if producer is not None else "input",
        node_name=producer.name if producer is not None else "", conv_output=tensor,
        activation=None, activation_op=None, tensor=tensor,
        shape=tuple(shape) if shape is not None else None, channels=channels, kernel=(),
        stride=(), dilation=(), group=1, spatial_rank=2, stage=-1, receptive_field=None,
        exposable=True)


def find_layer(model: LoadedModel, name: str,
               input_shapes: dict[str, tuple[int, ...]] | None = None) -> LayerInfo:
    """Look a CAM layer up by layer name, its tensor name, or any 4-D tensor's name.

    Raises
    ------
    InputError
        No such layer or tensor, a layer that cannot be exposed, or a tensor
        that is not 4-D for this input.
    """
    catalogue = model_layers(model)
    if any(name in (layer.name, layer.tensor) for layer in catalogue):
        return select_layers(catalogue, [name])[0]
    produced = {out for node in model.proto.graph.node for out in node.output}
    if name not in produced:
        raise InputError(f"The model has no layer or tensor named '{name}'.")
    shape = layer_shapes(model, input_shapes).get(name) if input_shapes else None
    declared = next((len(v.type.tensor_type.shape.dim) for v in (
        *model.proto.graph.output, *model.proto.graph.value_info) if v.name == name
        and v.type.tensor_type.HasField("shape")), None)
    if (shape is not None and len(shape) != 4) or (shape is None and declared not in (None, 4)):
        raise InputError(f"Tensor '{name}' has rank {len(shape) if shape else declared}; a CAM "
                         "layer needs a 4-D [batch, channels, height, width] tensor.")
    return tensor_layer(model, name, shape)


def pooled_tensor(model: LoadedModel, shapes: dict[str, list[int]]) -> str | None:
    """The last spatial tensor a global pooling reduces (a classifier's CAM layer).

    GlobalAveragePool, GlobalMaxPool, or ReduceMean/ReduceMax over the two
    spatial axes, whose input is 4-D with more than one channel and a spatial
    size above 1x1.
    """
    found = None
    constants = ConstantTable(model.proto.graph)
    for node in topological_nodes(model.proto.graph):
        shape = shapes.get(node.input[0]) if node.input else None
        if shape is None or len(shape) != 4 or max(shape[2:]) <= 1 or shape[1] <= 1:
            continue
        if node.op_type in ("GlobalAveragePool", "GlobalMaxPool"):
            found = node.input[0]
        elif node.op_type in ("ReduceMean", "ReduceMax"):
            axes = next((list(a.ints) for a in node.attribute if a.name == "axes"), None)
            if axes is None and len(node.input) > 1:
                value = constants.value(node.input[1])
                axes = None if value is None else [int(v) for v in value.reshape(-1)]
            if axes is not None and sorted(a % 4 for a in axes) == [2, 3]:
                found = node.input[0]
    return found


def branch_point(model: LoadedModel, shapes: dict[str, list[int]], stride: int,
                 input_height: int) -> str | None:
    """At one stride, the last 4-D tensor that feeds two or more convolutions.

    In a detector this is the neck's output that the class and box branches of
    one scale both read: "the last tensor before the head branch".
    """
    consumers: dict[str, int] = {}
    for node in model.proto.graph.node:
        if node.op_type in ("Conv", "QLinearConv", "ConvInteger") and node.input:
            consumers[node.input[0]] = consumers.get(node.input[0], 0) + 1
    found = None
    for node in topological_nodes(model.proto.graph):
        for out in node.output:
            shape = shapes.get(out)
            if shape is None or len(shape) != 4 or shape[1] <= 1 or consumers.get(out, 0) < 2:
                continue
            if round(input_height / max(1, shape[2])) == stride:
                found = out
    return found


def default_layer(model: LoadedModel, input_shapes: dict[str, tuple[int, ...]],
                  stride: int | None = None) -> LayerInfo:
    """The layer CAM methods explain by default.

    For a detection at ``stride``: the last tensor before the head branch at
    that stride (:func:`branch_point`). Otherwise the last spatial tensor
    before global pooling (a classifier's; what pytorch-grad-cam users pick),
    else the last exposable 2-D conv layer with more than one channel and a
    spatial size above 1x1. Symbolic sizes are resolved by shape inference on
    the concrete input shapes, never by running the model.

    Raises
    ------
    InputError
        The model has no such layer.
    """
    shapes = layer_shapes(model, input_shapes)
    height = next((int(s[2]) for s in input_shapes.values() if len(s) == 4), 0)
    chosen = branch_point(model, shapes, stride, height) if stride and height else None
    chosen = chosen or pooled_tensor(model, shapes)
    if chosen is not None:
        return tensor_layer(model, chosen, shapes.get(chosen))
    for layer in reversed(model_layers(model)):
        if not layer.exposable or layer.spatial_rank != 2:
            continue
        declared = [d for d in layer.shape or () if isinstance(d, int)]
        shape = shapes.get(layer.tensor) or (
            declared if layer.shape and len(declared) == len(layer.shape) else None)
        if shape is None or len(shape) != 4:
            continue
        channels, height, width = (int(d) for d in shape[1:])
        if channels > 1 and max(height, width) > 1:
            return layer
    raise InputError("The model has no 2-D convolution layer with more than one channel and "
                     "a spatial size above 1x1 to attribute to.")


def reference_session(model: LoadedModel, layer: LayerInfo | None,
                      preference: ProviderPreference, cache: SessionCache
                      ) -> tuple[Session, tuple[str, ...]]:
    """The session of the reference run and the model's own output names.

    With a ``layer`` it is the model with that layer exposed (built once and
    cached with the feature-map sessions); without, the unmodified model.
    """
    if layer is None:
        plain = cache.get(model.sha256, (), preference, "all", lambda: model.proto)
        return plain, plain.output_names
    tensors = exposed_tensors([layer])
    session = cache.get(model.sha256, tuple(tensors), preference, "all",
                        lambda: exposed_model(model, tensors))
    originals = tuple(o.name for o in model.proto.graph.output)
    return session, originals


def layer_activations(model: LoadedModel, layer: LayerInfo,
                      values: dict[str, np.ndarray]) -> Activations:
    """The layer's activations from the reference run's ``values``.

    Raises
    ------
    InputError
        The layer's tensor is not a 2-D feature map.
    """
    maps = LayerDecoder(model)(layer, values)
    if maps.data.ndim != 3:
        raise InputError(f"Layer '{layer.name}' is not a 2-D feature map "
                         f"(shape {list(maps.data.shape)}).")
    raw = maps.raw if maps.raw is not None and maps.raw.dtype.kind in "iu" else maps.data
    return Activations(layer=maps.layer, maps=maps.data.astype(np.float64),
                       raw=np.ascontiguousarray(raw[None]))
