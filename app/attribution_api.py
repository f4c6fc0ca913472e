"""The GUI's view of the attribution engine (``engine.attribution.registry``).

The registry may be absent (an engine without attribution): then
:data:`AVAILABLE` is False and the attribution panel says so. Method specs are
read through :class:`MethodInfo` so the panel depends on one small adapter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from engine.attribution.types import AttributionRequest, AttributionResult
from engine.jobs import CancelToken, ProgressCallback, no_progress
from engine.model_io import LoadedModel
from engine.types import LayerInfo, PreparedInput

LOG = logging.getLogger("featurescope.attribution")

try:
    from engine.attribution import registry as _registry
except ImportError as _exc:  # attribution not installed in this engine build
    _registry = None
    UNAVAILABLE_REASON = f"the attribution engine is not available ({_exc})"
else:
    UNAVAILABLE_REASON = ""

AVAILABLE = _registry is not None


@dataclass(frozen=True)
class ParamInfo:
    """One method parameter as the panel shows it."""

    name: str
    kind: str
    default: object
    description: str = ""
    choices: tuple[object, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class MethodInfo:
    """One attribution method as the panel shows it."""

    name: str
    title: str
    description: str
    params: tuple[ParamInfo, ...]
    needs_layer: bool
    spec: Any

    def tooltip(self) -> str:
        """One sentence on what the method does and what it costs."""
        return f"{self.title}: {self.description}"


def _param(spec: Any) -> ParamInfo:
    default = getattr(spec, "default", None)
    kind = getattr(spec, "kind", None) or getattr(spec, "type", None)
    if not isinstance(kind, str):
        kind = getattr(kind, "__name__", None) or type(default).__name__
    choices = tuple(getattr(spec, "choices", ()) or ())
    return ParamInfo(name=str(getattr(spec, "name", "?")), kind=str(kind), default=default,
                     description=str(getattr(spec, "description", "") or
                                     getattr(spec, "help", "") or ""),
                     choices=choices, minimum=getattr(spec, "low", None),
                     maximum=getattr(spec, "high", None))


def methods() -> tuple[MethodInfo, ...]:
    """Every registered method, in registry order (empty without the engine part)."""
    if _registry is None:
        return ()
    result = []
    for name, spec in _registry.METHODS.items():
        params = getattr(spec, "params", None) or getattr(spec, "parameters", ()) or ()
        result.append(MethodInfo(
            name=name, title=str(getattr(spec, "title", name)),
            description=str(getattr(spec, "description", "")),
            params=tuple(_param(p) for p in params),
            needs_layer=bool(getattr(spec, "needs_layer", False)), spec=spec))
    return tuple(result)


def method(name: str) -> MethodInfo | None:
    """The method called ``name``, if registered."""
    return next((m for m in methods() if m.name == name), None)


def input_size(prepared: PreparedInput | None) -> tuple[int, int] | None:
    """(H, W) of the model input as prepared (from the spec, else the first feed)."""
    if prepared is None:
        return None
    if prepared.spec is not None:
        return prepared.spec.height, prepared.spec.width
    shape = prepared.feeds[0][1].shape if prepared.feeds else ()
    return (int(shape[-2]), int(shape[-1])) if len(shape) >= 2 else None


def default_layer(layers: tuple[LayerInfo, ...]) -> LayerInfo | None:
    """The layer CAM methods explain by default: the last shown one larger than 1x1."""
    shown = [la for la in layers if la.exposable]
    for layer in reversed(shown):
        spatial = [d for d in (layer.spatial_shape or ()) if isinstance(d, int)]
        if spatial and max(spatial) > 1:
            return layer
    return shown[-1] if shown else None


def estimate_passes(info: MethodInfo, request: AttributionRequest,
                    prepared: PreparedInput | None, layer: LayerInfo | None) -> int | None:
    """The method's own forward-pass estimate, or None where it cannot tell.

    Raises
    ------
    EngineError
        A parameter the method refuses (out of range, not a number).
    """
    estimate = getattr(info.spec, "estimate_passes", None)
    size = input_size(prepared)
    if estimate is None or size is None:
        return None
    return int(estimate(size, layer if info.needs_layer else None, dict(request.params)))


def run(model: LoadedModel, prepared: PreparedInput, request: AttributionRequest,
        preference: str = "auto", progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None) -> AttributionResult:
    """Run one attribution through the engine's registry."""
    if _registry is None:
        from engine.errors import EngineError

        raise EngineError(f"Attribution is not available: {UNAVAILABLE_REASON}.")
    return _registry.run_attribution(model, prepared, request, preference=preference,
                                     progress=progress, cancel=cancel)
