"""Run a model once and return the feature maps of its convolution layers."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import onnx

from engine.bounded_cache import BoundedCache
from engine.budget import check_budget, estimate_maps_bytes
from engine.cancellation import CancelToken, ProgressCallback, ensure_token, no_progress
from engine.errors import Cancelled, EngineError, InputError, RewriteError
from engine.graph.constants import ConstantTable
from engine.graph.expose import expose_tensors
from engine.graph.inspect import find_layers
from engine.graph.shapes import concrete_shapes
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.session import OPT_LEVELS, SESSIONS, Session, SessionCache
from engine.stats import channel_stats
from engine.types import (
    FeatureMaps,
    LayerInfo,
    LayerMaps,
    OutputCheck,
    PreparedInput,
    Progress,
    RewriteReport,
)

FLOAT_RTOL = 1e-4
HALF_RTOL = 1e-2
CACHE_ENTRIES = 32
_CATALOGUES: BoundedCache[str, tuple[LayerInfo, ...]] = BoundedCache(CACHE_ENTRIES)
_REPORTS: BoundedCache[tuple[str, tuple[str, ...]], RewriteReport] = BoundedCache(CACHE_ENTRIES)
_ESTIMATES: BoundedCache[tuple[object, ...], int] = BoundedCache(CACHE_ENTRIES)
_CONCRETE: BoundedCache[tuple[str, tuple[tuple[str, tuple[int, ...]], ...]],
                        dict[str, list[int]]] = BoundedCache(8)
#: Rewritten graphs are whole model copies: only the latest two are kept, long
#: enough for the session that is being created from them.
_EXPOSED: BoundedCache[tuple[str, tuple[str, ...]], onnx.ModelProto] = BoundedCache(2)


def model_layers(model: LoadedModel) -> tuple[LayerInfo, ...]:
    """Return the model's layer catalogue (computed once per model hash).

    Parameters
    ----------
    model
        A loaded model.
    """
    return _CATALOGUES.get_or_create(model.sha256, lambda: find_layers(model.proto))


def _estimate(model: LoadedModel, layers: list[LayerInfo], feeds: dict[str, np.ndarray]) -> int:
    """Memory estimate of exposing ``layers``, cached per model, layers and input shapes."""
    key = (model.sha256, tuple(layer.tensor for layer in layers),
           tuple((name, value.shape) for name, value in feeds.items()))
    return _ESTIMATES.get_or_create(key, lambda: estimate_maps_bytes(model.proto, layers, feeds))


def input_shapes_for(model: LoadedModel, height: int, width: int) -> dict[str, tuple[int, ...]]:
    """Concrete shapes of every graph input for an image of ``height`` x ``width``.

    The image input (the first rank-4 one) gets batch 1 (or its fixed batch) and
    the size in its layout; other inputs get their declared dims, symbolic ones 1.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    image_done = False
    for tensor in model.info.inputs:
        dims = [d if isinstance(d, int) and d > 0 else 1 for d in tensor.shape]
        if len(dims) == 4 and not image_done:
            image_done = True
            last = tensor.shape[3] in (1, 3, 4) and tensor.shape[1] not in (1, 3, 4)
            if last:
                dims[1], dims[2] = height, width
            else:
                dims[2], dims[3] = height, width
        shapes[tensor.name] = tuple(dims)
    return shapes


def tensor_shapes(model: LoadedModel, input_shapes: dict[str, tuple[int, ...]]
                  ) -> dict[str, list[int]]:
    """Concrete shapes of the graph's tensors (outputs included) for these input shapes,
    cached per model and input shapes (one shape inference per size, for every caller)."""
    key = (model.sha256, tuple(sorted(input_shapes.items())))
    return _CONCRETE.get_or_create(key, lambda: concrete_shapes(model.proto, input_shapes,
                                                                include_outputs=True))


def layers_at_size(model: LoadedModel, input_shapes: dict[str, tuple[int, ...]]
                   ) -> tuple[LayerInfo, ...]:
    """The layer catalogue with every shape made concrete for these input shapes.

    Symbolic dims (``batch``, ``floor(height/2 - 1/2) + 1``) are resolved by shape
    inference on a concrete input, without running the model; layers whose
    shape inference cannot resolve keep their declared shape.
    """
    shapes = tensor_shapes(model, input_shapes)
    return tuple(replace(layer, shape=tuple(shapes[layer.tensor]))
                 if layer.tensor in shapes else layer for layer in model_layers(model))


def select_layers(layers: tuple[LayerInfo, ...], names: list[str] | None) -> list[LayerInfo]:
    """Pick exposable layers by name (all exposable ones when ``names`` is None).

    Raises
    ------
    InputError
        A name that is unknown or names a layer that cannot be exposed.
    """
    if names is None:
        return [layer for layer in layers if layer.exposable]
    by_name = {layer.name: layer for layer in layers}
    by_name.update({layer.tensor: layer for layer in layers if layer.tensor not in by_name})
    chosen: list[LayerInfo] = []
    for name in names:
        layer = by_name.get(name)
        if layer is None:
            raise InputError(f"The model has no convolution layer named '{name}'.")
        if not layer.exposable:
            raise InputError(f"Layer '{name}' cannot be shown: {layer.reason}.")
        chosen.append(layer)
    return chosen


def _rewrite(model: LoadedModel, tensors: list[str]) -> onnx.ModelProto:
    """Rewrite once; the report is kept longer than the (large) rewritten graph."""
    key = (model.sha256, tuple(tensors))
    rewritten, report = expose_tensors(model.proto, tensors)
    _REPORTS.put(key, report)
    return _EXPOSED.put(key, rewritten)


def exposed_model(model: LoadedModel, tensors: list[str]) -> onnx.ModelProto:
    """The model rewritten to also output ``tensors``, built once per (model, tensors).

    The rewrite and its report come from one :func:`engine.graph.expose.expose_tensors`
    call; sessions are created from this proto, so it is never built twice for
    one session.
    """
    key = (model.sha256, tuple(tensors))
    known = _EXPOSED.get(key)
    return known if known is not None else _rewrite(model, tensors)


def rewrite_report(model: LoadedModel, tensors: list[str]) -> RewriteReport:
    """The rewrite's report, computed once per (model, tensors) and cached."""
    key = (model.sha256, tuple(tensors))
    report = _REPORTS.get(key)
    if report is None:
        _rewrite(model, tensors)
        report = _REPORTS.get(key)
    if report is None:  # pragma: no cover - evicted by other threads in between
        report = expose_tensors(model.proto, tensors)[1]
    return report


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray],
                    rtol: float = FLOAT_RTOL) -> OutputCheck:
    """Compare outputs by max abs difference with a tolerance scaled by magnitude.

    Parameters
    ----------
    reference, candidate
        Output name to array; only names in ``reference`` are compared.
    rtol
        Allowed difference relative to ``max(1, max |reference|)``.
    """
    diffs: list[tuple[str, float]] = []
    passed = True
    tolerance = 0.0
    for name, ref in reference.items():
        got = candidate.get(name)
        if got is None or np.shape(got) != np.shape(ref):
            diffs.append((name, float("inf")))
            passed = False
            continue
        r = np.asarray(ref, dtype=np.float64)
        g = np.asarray(got, dtype=np.float64)
        both_nan = np.isnan(r) & np.isnan(g)
        diff = float(np.max(np.where(both_nan, 0.0, np.abs(r - g)), initial=0.0))
        scale = max(1.0, float(np.max(np.abs(np.nan_to_num(r)), initial=0.0)))
        kind = np.asarray(ref).dtype
        low_precision = kind == np.float16 or kind.name == "bfloat16"
        tol = (max(rtol, 1e-2) if low_precision and rtol > 0 else rtol) * scale \
            if kind.kind == "f" else 0.0
        tolerance = max(tolerance, tol)
        diffs.append((name, diff))
        passed = passed and diff <= tol
    return OutputCheck(max_abs_diff=tuple(diffs), tolerance=tolerance, passed=passed)


class LayerDecoder:
    """Turn a layer's exposed tensor(s) into display maps of the first batch item.

    Integer outputs (QLinearConv) are dequantised with the graph's y_scale and
    y_zero_point and keep their raw integers; float outputs of quantised layers
    keep the raw tensor the catalogue names (``raw_tensor``).
    """

    def __init__(self, model: LoadedModel) -> None:
        self._constants = ConstantTable(model.proto.graph)
        self._node_inputs = {n.output[0]: list(n.input) for n in model.proto.graph.node
                             if n.output}

    def __call__(self, layer: LayerInfo, values: dict[str, np.ndarray]) -> LayerMaps:
        """The layer's maps and statistics from one run's ``values``."""
        value = np.asarray(values[layer.tensor])
        confirmed = replace(layer, shape=tuple(int(d) for d in value.shape))
        raw: np.ndarray | None = None
        dequantized = False
        if value.dtype.kind in "iu":
            raw = _first_item(value)
            data, dequantized = self._dequantize(layer, raw)
        else:
            data = _first_item(value).astype(np.float32)
            if layer.raw_tensor and layer.raw_tensor in values:
                raw = _first_item(np.asarray(values[layer.raw_tensor]))
                dequantized = True
        data = np.ascontiguousarray(data)
        return LayerMaps(layer=confirmed, data=data, stats=channel_stats(data), raw=raw,
                         dequantized=dequantized)

    def _dequantize(self, layer: LayerInfo, value: np.ndarray) -> tuple[np.ndarray, bool]:
        if layer.op_type == "QLinearConv":
            inputs = self._node_inputs.get(layer.conv_output, [])
            scale = self._constants.value(inputs[6]) if len(inputs) > 6 else None
            zero = self._constants.value(inputs[7]) if len(inputs) > 7 and inputs[7] else None
            if scale is not None:
                zp = 0.0 if zero is None else zero.astype(np.float32)
                return ((value.astype(np.float32) - zp) * scale.astype(np.float32)), True
        return value.astype(np.float32), False


def exposed_tensors(layers: list[LayerInfo]) -> list[str]:
    """The tensors to expose for ``layers``: each map, and its raw tensor where it has one."""
    tensors: list[str] = []
    for layer in layers:
        tensors.append(layer.tensor)
        if layer.raw_tensor:
            tensors.append(layer.raw_tensor)
    return tensors


def _first_item(value: np.ndarray) -> np.ndarray:
    return value[0] if value.ndim >= 3 else value


def _session_with_check(model: LoadedModel, tensors: list[str], feeds: dict[str, np.ndarray],
                        preference: ProviderPreference, cache: SessionCache,
                        reference: dict[str, np.ndarray], cancel: CancelToken
                        ) -> tuple[Session, dict[str, np.ndarray], OutputCheck, list[str],
                                   RewriteReport]:
    """Build and run the rewritten model, checking its original outputs.

    At each optimisation level (highest first) the rewritten model's original
    outputs are compared with the unmodified model's at the same level; exposing
    a tensor can keep onnxruntime from fusing it (a QDQ pair into QLinearConv,
    say), so only a same-level comparison isolates what the rewrite changed.
    """
    notes: list[str] = []
    report = rewrite_report(model, tensors)
    if not report.exposed and not report.already_outputs:
        raise RewriteError("None of the chosen layers could be exposed.",
                           "; ".join(f"{n}: {r}" for n, r in report.skipped))
    last_error: EngineError | None = None
    for level in OPT_LEVELS:
        cancel.check()
        try:
            session = cache.get(model.sha256, tuple(tensors), preference, level,
                                lambda: exposed_model(model, tensors))
            values = session.run(feeds, cancel=cancel)
            same_level = reference if level == "all" else cache.get(
                model.sha256, (), preference, level, lambda: model.proto).run(feeds, cancel=cancel)
        except Cancelled:
            raise
        except EngineError as exc:
            last_error = exc
            notes.append(f"optimisation level '{level}' failed ({exc.message})")
            continue
        missing = [t for t in report.exposed if t not in values]
        # A graph computing in fp16 rounds differently when an exposed tensor keeps
        # onnxruntime from removing a Cast pair, so it gets a half-precision tolerance.
        half = any(values[t].dtype == np.float16 for t in report.exposed if t in values)
        check = compare_outputs(same_level, values, rtol=HALF_RTOL if half else FLOAT_RTOL)
        if not missing and check.passed:
            if level != "all":
                drift = compare_outputs(reference, values, rtol=0.0).worst
                notes.append(
                    f"onnxruntime's optimiser at level 'all' fused the exposed tensors "
                    f"differently, so the graph was rebuilt at level '{level}' and checked "
                    f"against the unmodified model at that level; its outputs differ from the "
                    f"fully optimised model's by at most {drift:.3g}")
            return session, values, check, notes, report
        notes.append(f"at optimisation level '{level}': "
                     + (f"missing outputs {missing}" if missing else
                        f"original outputs differ by {check.worst:.3g}"))
    if last_error is not None and len(notes) == len(OPT_LEVELS) and all(
            "failed" in n for n in notes):
        raise RewriteError("The model with exposed layers could not be run.", last_error.one_line())
    raise RewriteError("Exposing the layers changed the model's own outputs, so the maps "
                       "cannot be trusted.", "; ".join(notes))


def extract_feature_maps(model: LoadedModel, prepared: PreparedInput,
                         layers: list[str] | None = None, preference: ProviderPreference = "auto",
                         progress: ProgressCallback = no_progress,
                         cancel: CancelToken | None = None, cache: SessionCache = SESSIONS,
                         request_id: int = 0) -> FeatureMaps:
    """Run the model once with the chosen conv layers exposed and collect their maps.

    The original outputs of the rewritten model are checked against the
    unmodified model on the same input; if onnxruntime's optimiser changed or
    removed an exposed tensor the graph is rebuilt at a lower optimisation level.

    Parameters
    ----------
    model
        The loaded model.
    prepared
        Feeds from :func:`engine.preprocess.prepare_input`.
    layers
        Layer names (default: every exposable layer).
    preference
        Execution provider preference.
    progress, cancel
        Progress callback and cancel token.
    cache
        Session cache.
    request_id
        Echoed in the result so a GUI can drop stale results.

    Returns
    -------
    FeatureMaps

    Raises
    ------
    EngineError
        Typed errors for every failure; :class:`engine.errors.Cancelled` when cancelled.
    """
    token = ensure_token(cancel)
    timings: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    catalogue = model_layers(model)
    chosen = select_layers(catalogue, layers)
    if not chosen:
        hidden = sum(1 for layer in catalogue if not layer.exposable)
        if hidden:
            raise InputError(f"All {hidden} convolution layers of this model are inside "
                             "control-flow subgraphs (If/Loop), which cannot be exposed.")
        raise InputError("The model has no convolution layer to show.")
    timings.append(("catalogue", time.perf_counter() - t0))
    feeds = prepared.feed_dict()
    check_budget(_estimate(model, chosen, feeds),
                 f"Showing {len(chosen)} layer{'s' if len(chosen) != 1 else ''}")
    progress(Progress(1, 4, "running the original model"))
    token.check()
    t1 = time.perf_counter()
    original = cache.get(model.sha256, (), preference, "all", lambda: model.proto)
    reference = original.run(feeds, cancel=token)
    timings.append(("original_run", time.perf_counter() - t1))
    progress(Progress(2, 4, "running with exposed layers"))
    tensors = exposed_tensors(chosen)
    t2 = time.perf_counter()
    session, values, check, notes, report = _session_with_check(
        model, tensors, feeds, preference, cache, reference, token)
    timings.append(("exposed_run", time.perf_counter() - t2))
    progress(Progress(3, 4, "computing statistics"))
    maps: list[LayerMaps] = []
    t3 = time.perf_counter()
    decode = LayerDecoder(model)
    for layer in chosen:
        token.check()
        value = np.asarray(values[layer.tensor])
        if layer.shape is not None and any(isinstance(d, int) and d != v for d, v
                                           in zip(layer.shape, value.shape, strict=False)):
            notes.append(f"layer {layer.name}: declared shape {list(layer.shape)}, "
                         f"real {list(value.shape)}")
        maps.append(decode(layer, values))
    timings.append(("statistics", time.perf_counter() - t3))
    timings.append(("total", time.perf_counter() - t0))
    progress(Progress(4, 4, "done"))
    outputs = tuple((name, reference[name]) for name in original.output_names)
    return FeatureMaps(
        model_sha256=model.sha256, run=session.info, input=prepared, layers=tuple(maps),
        outputs=outputs, check=check, rewrite=report,
        timings=tuple(timings), notes=tuple(notes), request_id=request_id)
