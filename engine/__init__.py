"""Featurescope's engine: load ONNX models, expose conv layers, compute maps and attributions.

The engine never imports Qt, pyqtgraph or the ``app`` package. Its public API:

>>> import engine
>>> model = engine.open_model("model.onnx")                    # doctest: +SKIP
>>> prepared = engine.prepare_input(model.info, "cat.png")     # doctest: +SKIP
>>> maps = engine.feature_maps(model, prepared)                # doctest: +SKIP
>>> result = engine.attribute(model, prepared,
...                           engine.AttributionRequest("score-cam"))  # doctest: +SKIP

:data:`METHODS` lists the attribution methods with their parameter specs;
:func:`plan_attribution` says what a request will cost before it runs. Long
work takes a progress callback and a :class:`CancelToken` and raises
:class:`Cancelled`; every failure is an :class:`EngineError` with one sentence.
"""

from engine.attribution.registry import METHODS, plan_attribution
from engine.attribution.registry import run_attribution as attribute
from engine.attribution.types import AttributionRequest, AttributionResult, Target
from engine.cancellation import CancelToken
from engine.errors import Cancelled, EngineError, InputError
from engine.featuremaps import extract_feature_maps as feature_maps
from engine.featuremaps import model_layers as layers
from engine.input_spec import spec_from_model
from engine.model_io import LoadedModel
from engine.model_io import load_model as open_model
from engine.preprocess import prepare_input
from engine.version import __version__

__all__ = [
    "METHODS",
    "AttributionRequest",
    "AttributionResult",
    "CancelToken",
    "Cancelled",
    "EngineError",
    "InputError",
    "LoadedModel",
    "Target",
    "__version__",
    "attribute",
    "feature_maps",
    "layers",
    "open_model",
    "plan_attribution",
    "prepare_input",
    "spec_from_model",
]
