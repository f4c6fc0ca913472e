"""What the window computes once per change of model, input or spec, besides feature maps.

The layer catalogue with shapes at the input's size, the head's predictions and the
engine's default CAM layers (one per detection stride): composed from engine calls
and run inside the controller's jobs, off the GUI thread.
"""

from __future__ import annotations

import logging

from app.state import InputRun
from engine.attribution.activations import default_layer, layer_shapes
from engine.cancellation import CancelToken
from engine.errors import Cancelled, EngineError, InputError
from engine.featuremaps import layers_at_size
from engine.heads import Predictions, predict
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.types import PreparedInput

LOG = logging.getLogger("featurescope.controller")


def input_shapes(prepared: PreparedInput) -> dict[str, tuple[int, ...]]:
    """The shapes really fed to the model (a text line may be wider than its spec)."""
    return {name: tuple(int(d) for d in value.shape) for name, value in prepared.feeds}


def cam_layers(model: LoadedModel, shapes: dict[str, tuple[int, ...]],
               strides: set[int]) -> tuple[tuple[int, str], ...]:
    """The engine's default CAM layer for other targets (stride 0) and per detection stride.

    Only resolves shapes (cached per model and input size); a model without a
    suitable layer simply has no entry.
    """
    found: list[tuple[int, str]] = []
    for stride in sorted(strides | {0}):
        try:
            found.append((stride, default_layer(model, shapes, stride or None).name))
        except InputError as exc:
            LOG.info("no default CAM layer at stride %d: %s", stride, exc.one_line())
    return tuple(found)


def four_d_tensors(model: LoadedModel, shapes: dict[str, tuple[int, ...]]) -> tuple[str, ...]:
    """Every tensor that is 4-D with more than one channel here, in graph order."""
    resolved = layer_shapes(model, shapes)
    produced = [out for node in model.proto.graph.node for out in node.output]
    return tuple(name for name in produced
                 if len(resolved.get(name) or ()) == 4 and resolved[name][1] > 1)


def name_predictions(model: LoadedModel, prepared: PreparedInput, labels: tuple[str, ...],
                     preference: ProviderPreference, cancel: CancelToken | None = None
                     ) -> tuple[Predictions | None, str]:
    """The engine's predictions on the input, or None and the reason it could not tell.

    This is the one place the window asks the engine to predict (one run per call).
    """
    try:
        return predict(model, prepared, preference, cancel=cancel, labels=labels), ""
    except Cancelled:
        raise
    except EngineError as exc:
        return None, exc.message


def run_on_input(model: LoadedModel, prepared: PreparedInput, labels: tuple[str, ...],
                 preference: ProviderPreference, cancel: CancelToken | None = None) -> InputRun:
    """Layer shapes at this input's size, the head's predictions and the CAM defaults.

    A model whose head the engine cannot decode still gets its layers and maps:
    the reason is kept in ``InputRun.error``.
    """
    shapes = input_shapes(prepared)
    layers = layers_at_size(model, shapes)
    predicted, error = name_predictions(model, prepared, labels, preference, cancel)
    strides = {item.stride for item in predicted.items if item.stride} if predicted else set()
    return InputRun(prepared, layers, predicted, error, cam_layers(model, shapes, strides),
                    four_d_tensors(model, shapes))
