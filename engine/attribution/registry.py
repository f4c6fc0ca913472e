"""The attribution methods, and the single entry points that plan and run them.

:data:`METHODS` maps a method's name to its :class:`~engine.attribution.method_spec.Method`
(parameters dataclass, ``run``, pass estimate); the CLI's flags and the GUI's
forms are generated from it. Adding a method is one module declaring ``METHOD``
and one line below.

:func:`plan_attribution` says, before running, which layer a method will use,
the input geometry and the passes it will make; :func:`run_attribution` runs
it and reports every pass it really made.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from engine.attribution import ablation_cam, d_rise, eigen_cam, occlusion, rise, score_cam
from engine.attribution.activations import (
    Activations,
    default_layer,
    find_layer,
    layer_activations,
    reference_session,
)
from engine.attribution.context import Context, prepare_context
from engine.attribution.geometry import prepared_geometry
from engine.attribution.method_spec import Method, PassQuery
from engine.attribution.types import AttributionRequest, AttributionResult
from engine.bounded_cache import BoundedCache
from engine.cancellation import CancelToken, ProgressCallback, ensure_token, no_progress
from engine.errors import InputError
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.run_meter import count_runs
from engine.session import SESSIONS, SessionCache
from engine.types import LayerInfo, PreparedInput

METHODS: dict[str, Method[Any]] = {method.name: method for method in (
    occlusion.METHOD,
    score_cam.METHOD,
    ablation_cam.METHOD,
    eigen_cam.METHOD,
    rise.METHOD,
    d_rise.METHOD,
)}

#: Layer activations per (model, input, layer, provider), for exact estimates.
_ACTIVATIONS: BoundedCache[tuple[str, str, str, str], Activations] = BoundedCache(4)


def method(name: str) -> Method[Any]:
    """The registered method called ``name``.

    Raises
    ------
    InputError
        No method has that name.
    """
    found = METHODS.get(name)
    if found is None:
        raise InputError(f"Unknown attribution method '{name}'; choose one of "
                         f"{', '.join(METHODS)}.")
    return found


@dataclass(frozen=True)
class AttributionPlan:
    """What an attribution will do, known before it runs.

    ``passes`` are the perturbed inputs the method will score (exact where
    ``exact``; an upper bound otherwise); ``reference_passes`` the model's own
    run on the input that every method makes first.
    """

    method: str
    layer: LayerInfo | None
    size: tuple[int, int]
    layout: str
    passes: int
    exact: bool
    reference_passes: int = 1

    @property
    def total_passes(self) -> int:
        """Reference run plus perturbed passes (batch-planning checks not included)."""
        return self.passes + self.reference_passes


def _input_shapes(prepared: PreparedInput) -> dict[str, tuple[int, ...]]:
    return {name: tuple(int(d) for d in value.shape) for name, value in prepared.feeds}


def resolve_layer(model: LoadedModel, prepared: PreparedInput, spec: Method[Any],
                  name: str | None) -> LayerInfo | None:
    """The layer ``spec`` explains: ``name`` if given, else the default; None if it needs none.

    Raises
    ------
    InputError
        An unknown or unexposable layer name, or no suitable default layer.
    """
    if not spec.needs_layer:
        return None
    shapes = _input_shapes(prepared)
    return find_layer(model, name, shapes) if name else default_layer(model, shapes)


def _feeds_digest(prepared: PreparedInput) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    for name, value in prepared.feeds:
        digest.update(name.encode())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _activations(model: LoadedModel, prepared: PreparedInput, layer: LayerInfo,
                 preference: ProviderPreference, cache: SessionCache,
                 cancel: CancelToken | None) -> Activations:
    key = (model.sha256, _feeds_digest(prepared), layer.tensor, preference)

    def compute() -> Activations:
        session, _ = reference_session(model, layer, preference, cache)
        values = session.run(prepared.feed_dict(), cancel=cancel)
        return layer_activations(model, layer, values)

    return _ACTIVATIONS.get_or_create(key, compute)


def plan_attribution(model: LoadedModel, prepared: PreparedInput, request: AttributionRequest,
                     preference: ProviderPreference = "auto", cache: SessionCache = SESSIONS,
                     run_model: bool = True, cancel: CancelToken | None = None
                     ) -> AttributionPlan:
    """The layer, input geometry and forward passes of ``request``, before running it.

    Parameters
    ----------
    model, prepared
        The model and its input.
    request
        Method, parameters and layer (None: the default layer).
    preference, cache
        Where a run for the exact estimate goes.
    run_model
        For CAM methods, run the model once (cached per input) to learn how
        many of the layer's channels are constant on this input, which the
        methods skip; without it the estimate is an upper bound.
    cancel
        Cancels that run.

    Raises
    ------
    EngineError
        Unknown method, refused parameters, unknown layer, non-image input.
    """
    spec = method(request.method)
    params = spec.resolve(request.params)
    geometry = prepared_geometry(model, prepared)
    layer = resolve_layer(model, prepared, spec, request.layer)
    acts = None
    if layer is not None and run_model:
        acts = _activations(model, prepared, layer, preference, cache, cancel)
    passes = spec.estimate_passes(PassQuery(geometry.size, layer, acts), params)
    return AttributionPlan(method=spec.name, layer=layer, size=geometry.size,
                           layout=geometry.layout, passes=int(passes),
                           exact=spec.estimate_is_exact or acts is not None)


def run_attribution(model: LoadedModel, prepared: PreparedInput, request: AttributionRequest,
                    preference: ProviderPreference = "auto",
                    progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
                    cache: SessionCache = SESSIONS) -> AttributionResult:
    """Compute one attribution map: the single entry point for the CLI and the GUI.

    Parameters
    ----------
    model
        The loaded model.
    prepared
        Its input (:func:`engine.preprocess.prepare_input`).
    request
        Method, target, layer (CAM methods; default: the last conv layer with
        more than one channel and a spatial size above 1x1), parameters, batch
        size (default: grown while the memory estimate allows) and the
        exact-fp32 switch.
    preference
        Execution provider preference.
    progress, cancel
        Progress reports between batches; cancellation checked between batches
        and terminating the pass in flight.
    cache
        Session cache (fused graphs are cached apart).

    Returns
    -------
    AttributionResult
        ``forward_passes`` counts every input the model evaluated (reference,
        batch checks and perturbed passes); ``perturbation_passes`` the method's own.

    Raises
    ------
    EngineError
        Typed errors; :class:`engine.errors.Cancelled` when cancelled (the
        cached sessions stay usable).
    """
    result, _ = attribute_in_context(model, prepared, request, preference, progress, cancel,
                                     cache)
    return result


def attribute_in_context(model: LoadedModel, prepared: PreparedInput,
                         request: AttributionRequest, preference: ProviderPreference = "auto",
                         progress: ProgressCallback = no_progress,
                         cancel: CancelToken | None = None, cache: SessionCache = SESSIONS
                         ) -> tuple[AttributionResult, Context]:
    """:func:`run_attribution`, also returning the context it ran in (for metrics that
    perturb the same input with the same sessions, without another reference run)."""
    spec = method(request.method)
    params = spec.resolve(request.params)
    token = ensure_token(cancel)
    start = time.perf_counter()
    with count_runs() as meter:
        layer = resolve_layer(model, prepared, spec, request.layer)
        ctx = prepare_context(model, prepared, request.target, preference, cache, progress,
                              token, request.batch_size, spec.score_mode(params),
                              request.exact_fp32, layer)
        out = spec.run(ctx, params, progress, token)
    notes = [*ctx.notes, *out.notes, *prepared.warnings]
    return AttributionResult(
        method=spec.name, variant=out.variant, heatmap=out.heatmap,
        target=request.target, target_index=ctx.target.index, target_score=ctx.target_score,
        layer=layer.name if layer is not None else None, params=spec.as_pairs(params),
        forward_passes=meter.forward_passes, batch_mode=out.batch_mode or ctx.batch_mode(),
        batch_size=out.batch_size, provider=ctx.provider,
        seconds=time.perf_counter() - start, notes=tuple(notes),
        request_id=request.request_id, class_maps=out.class_maps,
        class_indices=out.class_indices, path=out.path, stats=tuple(out.stats.items()),
        exact_fp32=request.exact_fp32, perturbation_passes=out.forward_passes,
        session_runs=meter.session_runs), ctx
