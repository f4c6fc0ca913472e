"""Plan a scan: which layers, their map sizes and receptive fields, batches and shards."""

from __future__ import annotations

import math

import numpy as np

from engine.errors import InputError
from engine.featuremaps import extract_feature_maps, model_layers, select_layers
from engine.graph.shapes import concrete_shapes
from engine.input_spec import image_input
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.scan.fields import Field, field_starts
from engine.scan.records import ScanLayer, ScanPlan
from engine.scan.shard import fixed_batch
from engine.scan.topk import MAX_IMAGES
from engine.session import SessionCache
from engine.types import InputSpec, LayerInfo, PreparedInput

#: Images per shard (rounded up to whole batches): the unit of work of a Ray
#: actor and of one committed transaction.
DEFAULT_SHARD_IMAGES = 256
#: Smaller datasets are cut into at least this many shards (of at least
#: ``MIN_SHARD_BATCHES`` batches), so that every session has shards to scan.
MIN_SHARDS = 16
MIN_SHARD_BATCHES = 4
MAX_K = 1024
MAX_BATCH = 1024


def input_shape(spec: InputSpec, batch: int) -> tuple[int, int, int, int]:
    """The image tensor's shape for ``batch`` images."""
    if spec.layout == "NHWC":
        return batch, spec.height, spec.width, spec.channels
    return batch, spec.channels, spec.height, spec.width


def _probe_shapes(model: LoadedModel, layers: list[LayerInfo], spec: InputSpec, batch: int,
                  preference: ProviderPreference) -> dict[str, list[int]]:
    """Map shapes from one run on a blank image (when shape inference cannot tell them)."""
    main = image_input(model.info)
    assert main is not None
    blank = np.zeros(input_shape(spec, batch), dtype=spec.dtype)
    prepared = PreparedInput(feeds=((main.name, blank),), display=None, spec=spec,
                             source="blank image")
    maps = extract_feature_maps(model, prepared, [layer.name for layer in layers], preference,
                                cache=SessionCache(capacity=1))
    return {m.layer.tensor: [batch, *m.data.shape] for m in maps.layers}


def _scan_layer(index: int, layer: LayerInfo, shape: list[int], spec: InputSpec,
                where: Field | None) -> ScanLayer:
    spatial = shape[2:]
    if len(spatial) not in (1, 2):
        raise InputError(f"Layer '{layer.name}' has {len(spatial)} spatial axes; dataset scans "
                         "cover 1-D and 2-D maps.")
    height, width = (1, spatial[0]) if len(spatial) == 1 else (spatial[0], spatial[1])
    field = layer.receptive_field
    if field is None:
        size, stride = (-1, -1), (1, 1)
    elif len(field.size) == 1:
        size, stride = (1, field.size[0]), (1, field.stride[0])
    else:
        size, stride = (field.size[0], field.size[1]), (field.stride[0], field.stride[1])
    if where is None:  # spread evenly over the input
        jy, jx = spec.height / max(1, height), spec.width / max(1, width)
        where = ((jy / 2, jy), (jx / 2, jx))
    return ScanLayer(index=index, name=layer.name, tensor=layer.tensor, channels=int(shape[1]),
                     height=int(height), width=int(width), rf_size=size, rf_stride=stride,
                     rf_start=(where[0][0], where[1][0]), rf_jump=(where[0][1], where[1][1]))


def plan_layers(model: LoadedModel, names: list[str] | None, spec: InputSpec,
                preference: ProviderPreference = "auto"
                ) -> tuple[tuple[ScanLayer, ...], dict[str, int]]:
    """The scanned layers with their map sizes, and the element types of their tensors.

    Raises
    ------
    InputError
        Unknown or unexposable layer names, a model without an image input or
        without convolution layers.
    """
    main = image_input(model.info)
    if main is None:
        raise InputError("This model does not take images, so it cannot scan a dataset.")
    chosen = select_layers(model_layers(model), names)
    if not chosen:
        raise InputError("The model has no convolution layer that can be scanned.")
    batch = fixed_batch(model) or 1
    types: dict[str, int] = {}
    shapes = concrete_shapes(model.proto, {main.name: input_shape(spec, batch)}, types=types)
    if any(layer.tensor not in shapes for layer in chosen):
        shapes = {**shapes, **_probe_shapes(model, chosen, spec, batch, preference)}
    fields = field_starts(model.proto, main.name, shapes)
    layers = tuple(_scan_layer(i, layer, shapes[layer.tensor], spec, fields.get(layer.tensor))
                   for i, layer in enumerate(chosen))
    return layers, types


def default_shard_size(image_count: int, batch: int) -> int:
    """Images per shard when none is given: 256, less for small datasets.

    One shard goes to one session at a time, so a dataset of one or two shards would
    leave the other sessions idle: up to 4,096 images, the dataset is cut into at least
    16 shards, each at least 4 batches (fewer commits than one per batch).
    """
    spread = math.ceil(image_count / MIN_SHARDS)
    return max(batch, min(DEFAULT_SHARD_IMAGES, max(MIN_SHARD_BATCHES * batch, spread)))


def make_plan(model: LoadedModel, model_path: str, layers: tuple[ScanLayer, ...],
              spec: InputSpec, image_count: int, paths_sha256: str, k: int = 16,
              batch_size: int = 8, shard_size: int | None = None,
              preference: ProviderPreference = "auto", opt_level: str = "all") -> ScanPlan:
    """Check the numbers of a scan and freeze them into a :class:`ScanPlan`.

    A model with a fixed batch size imposes it; shards hold whole batches.

    Raises
    ------
    InputError
        k, batch or shard size out of range, or too many images.
    """
    if not 1 <= k <= MAX_K:
        raise InputError(f"--k must be between 1 and {MAX_K}, not {k}.")
    if not 1 <= batch_size <= MAX_BATCH:
        raise InputError(f"--batch-size must be between 1 and {MAX_BATCH}, not {batch_size}.")
    if image_count > MAX_IMAGES:
        raise InputError(f"A scan holds at most {MAX_IMAGES} images.")
    main = image_input(model.info)
    width = None if main is None else main.shape[3 if spec.layout == "NCHW" else 2]
    if spec.resize == "keep_aspect" and not isinstance(width, int):
        raise InputError("A scan needs one input size for every image; give --resize "
                         "stretch, letterbox or center_crop for this model.")
    batch = fixed_batch(model) or batch_size
    wanted = shard_size if shard_size is not None else default_shard_size(image_count, batch)
    if wanted < 1:
        raise InputError(f"The shard size must be at least 1, not {wanted}.")
    shard = batch * math.ceil(wanted / batch)
    return ScanPlan(model_path=model_path, model_sha256=model.sha256, layers=layers, k=k,
                    batch_size=batch, shard_size=shard, spec=spec, preference=preference,
                    opt_level=opt_level, image_count=image_count, paths_sha256=paths_sha256)
