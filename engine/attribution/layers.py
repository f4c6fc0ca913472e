"""Choose a layer and read its activations for the CAM methods."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.attribution.context import Context
from engine.errors import InputError
from engine.featuremaps import extract_feature_maps, model_layers, select_layers
from engine.model_io import LoadedModel
from engine.types import LayerInfo

_MAX_PROBES = 6


@dataclass(frozen=True)
class Activations:
    """One layer's activations on the input.

    ``maps`` is float (K, h, w) in real units (dequantised); ``raw`` is the
    tensor as the model produces it, [1, K, h, w] (integers for QLinearConv).
    """

    layer: LayerInfo
    maps: np.ndarray
    raw: np.ndarray


def _spatial_ok(shape: tuple[object, ...] | None) -> bool | None:
    if shape is None or len(shape) != 4:
        return None
    dims = shape[2:]
    if all(isinstance(d, int) for d in dims):
        return all(int(d) > 1 for d in dims)  # type: ignore[call-overload]
    return None


def default_layer(model: LoadedModel, ctx: Context | None = None) -> LayerInfo:
    """The last exposable 2-D conv layer whose spatial size is larger than 1x1.

    Declared shapes decide when known; otherwise (symbolic sizes) the layer is
    run on the input to learn its real size.

    Raises
    ------
    InputError
        The model has no such layer.
    """
    candidates = [layer for layer in model_layers(model)
                  if layer.exposable and layer.spatial_rank == 2]
    probes = 0
    for layer in reversed(candidates):
        ok = _spatial_ok(layer.shape)
        if ok is None and ctx is not None and probes < _MAX_PROBES:
            probes += 1
            ok = _spatial_ok(activations(ctx, layer).raw.shape)
        if ok:
            return layer
    raise InputError("The model has no 2-D convolution layer with a spatial size above 1x1 "
                     "to attribute to.")


def find_layer(model: LoadedModel, name: str) -> LayerInfo:
    """Look a layer up by name or tensor name (must be exposable)."""
    return select_layers(model_layers(model), [name])[0]


def activations(ctx: Context, layer: LayerInfo) -> Activations:
    """Run the model with ``layer`` exposed and return its activations."""
    result = extract_feature_maps(ctx.model, ctx.prepared, [layer.name], ctx.preference,
                                  cancel=ctx.cancel, cache=ctx.cache)
    maps = result.layers[0]
    if maps.data.ndim != 3:
        raise InputError(f"Layer '{layer.name}' is not a 2-D feature map "
                         f"(shape {list(maps.data.shape)}).")
    raw = maps.raw if maps.raw is not None and maps.raw.dtype.kind in "iu" else maps.data
    return Activations(layer=maps.layer, maps=maps.data.astype(np.float64),
                       raw=np.ascontiguousarray(raw[None]))
