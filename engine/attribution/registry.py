"""The attribution methods, their parameters, and the single entry point.

:data:`METHODS` describes every method for the CLI and the GUI (title, one
sentence with its cost, parameter specs with defaults and ranges, a pass
estimate); :func:`run_attribution` runs any of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.attribution import ablation_cam, eigen_cam, occlusion, refine, rise, score_cam
from engine.attribution.common import MethodOutput, pair
from engine.attribution.context import Context, prepare_context
from engine.attribution.layers import activations, default_layer, find_layer
from engine.attribution.types import AttributionRequest, AttributionResult, ScoreMode
from engine.errors import InputError
from engine.jobs import CancelToken, ProgressCallback, ensure_token, no_progress
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.session import SESSIONS, SessionCache
from engine.types import LayerInfo, PreparedInput

Params = Mapping[str, object]


@dataclass(frozen=True)
class ParamSpec:
    """One method parameter, described for a form.

    ``kind`` is ``int``, ``float``, ``pair`` (one or two ints), ``choice``,
    ``text`` or ``bool``; ``low``/``high`` bound numbers, ``choices`` lists
    allowed values.
    """

    name: str
    kind: str
    default: object
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def parse(self, value: object) -> object:
        """Convert and check one value; raise InputError if it is out of range."""
        try:
            if self.kind == "int":
                parsed: object = int(value)  # type: ignore[call-overload]
            elif self.kind == "float":
                parsed = float(value)  # type: ignore[arg-type]
            elif self.kind == "pair":
                return pair(value, self.name)
            elif self.kind == "bool":
                parsed = value if isinstance(value, bool) else str(value).lower() in (
                    "1", "true", "yes", "on")
            else:
                parsed = str(value)
        except (TypeError, ValueError) as exc:
            raise InputError(f"Parameter {self.name} must be a {self.kind}, not "
                             f"{value!r}.") from exc
        if self.choices and parsed not in self.choices:
            raise InputError(f"Parameter {self.name} must be one of {', '.join(self.choices)}.")
        numeric = isinstance(parsed, int | float) and not isinstance(parsed, bool)
        if numeric and ((self.low is not None and parsed < self.low) or (  # type: ignore[operator]
                self.high is not None and parsed > self.high)):  # type: ignore[operator]
            raise InputError(f"Parameter {self.name} must lie in [{self.low}, {self.high}].")
        return parsed


@dataclass(frozen=True)
class MethodSpec:
    """A method as the CLI and the GUI see it."""

    name: str
    title: str
    description: str
    params: tuple[ParamSpec, ...]
    needs_layer: bool
    passes: Callable[[tuple[int, int], LayerInfo | None, Params], int]

    def resolve(self, given: Mapping[str, object] | tuple[tuple[str, object], ...]
                ) -> dict[str, object]:
        """Defaults filled in and every value checked; unknown names are refused."""
        values = dict(given)
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise InputError(f"Method {self.name} has no parameter {', '.join(unknown)}.")
        return {name: spec.parse(values.get(name, spec.default)) for name, spec in known.items()}

    def estimate_passes(self, size: tuple[int, int], layer: LayerInfo | None,
                        params: Mapping[str, object] | None = None) -> int:
        """Forward passes for an input of ``size`` = (H, W) (an upper bound for CAMs)."""
        return self.passes(size, layer, self.resolve(params or {}))


def _channels(layer: LayerInfo | None, params: Params) -> int:
    total = layer.channels if layer is not None and layer.channels else 0
    wanted = int(params.get("channels", 0) or 0)  # type: ignore[call-overload]
    return min(wanted, total) if wanted and total else wanted or total


def _occlusion_passes(size: tuple[int, int], params: Params) -> int:
    """Exact pass count of occlusion, plain or coarse-to-fine."""
    if not params.get("refine"):
        return occlusion.count_passes(size[0], size[1], params["window"], params["stride"])
    return refine.count_refined_passes(
        size[0], size[1], pair(params["window"], "window"), pair(params["stride"], "stride"),
        int(params["coarse_step"]), float(params["keep_fraction"]),  # type: ignore[call-overload,arg-type]
        bool(params["compare"]))


_FUSED = ParamSpec("fused", "bool", True, "build the perturbed inputs inside the ONNX graph")
_CHANNELS = ParamSpec("channels", "int", 0, "use only the N channels with the largest spatial "
                      "variance (0: all)", low=0)

METHODS: dict[str, MethodSpec] = {
    "occlusion": MethodSpec(
        "occlusion", "Occlusion",
        "Slides a window over the input and measures how much the score drops; one forward "
        "pass per window position.",
        (ParamSpec("window", "pair", (16, 16), "window height, width in pixels", low=1),
         ParamSpec("stride", "pair", (8, 8), "step between windows in pixels", low=1),
         ParamSpec("baseline", "text", "0", "occluded value: 0, a number, mean or blur"),
         _FUSED,
         ParamSpec("refine", "bool", False, "coarse-to-fine: a coarse pass, then fine windows "
                   "only where the coarse map is strongest"),
         ParamSpec("coarse_step", "int", 2, "coarse-to-fine: the coarse pass uses this many "
                   "times the stride", low=2, high=16),
         ParamSpec("keep_fraction", "float", 0.25, "coarse-to-fine: share of the other "
                   "windows scored, where the coarse map is strongest", low=0.0, high=1.0),
         ParamSpec("compare", "bool", False, "coarse-to-fine: also compute the full fine map "
                   "and report the correlation (costs the skipped passes)")),
        False, lambda size, layer, p: _occlusion_passes(size, p)),
    "score-cam": MethodSpec(
        "score-cam", "Score-CAM",
        "Weights each channel of a layer by the score of the input masked with it; one "
        "forward pass per non-constant channel.",
        (ParamSpec("variant", "choice", "paper", "paper or pytorch-grad-cam formulation",
                   choices=score_cam.VARIANTS), _CHANNELS, _FUSED),
        True, lambda size, layer, p: _channels(layer, p)),
    "ablation-cam": MethodSpec(
        "ablation-cam", "Ablation-CAM",
        "Zeroes each channel of a layer and weights it by the relative score drop; one pass "
        "of the graph after the layer per channel.",
        (_CHANNELS, _FUSED), True, lambda size, layer, p: _channels(layer, p)),
    "eigen-cam": MethodSpec(
        "eigen-cam", "Eigen-CAM",
        "The first principal component of a layer's activations; one forward pass, an "
        "instant preview.", (), True, lambda size, layer, p: 1),
    "rise": MethodSpec(
        "rise", "RISE",
        "Averages random masks weighted by the score of the masked input; one forward pass "
        "per mask, maps for many classes at once.",
        (ParamSpec("masks", "int", 1000, "number of random masks", low=1, high=100000),
         ParamSpec("grid", "int", 7, "mask grid cells per side", low=2, high=64),
         ParamSpec("probability", "float", 0.5, "probability a cell is kept", low=0.01,
                   high=1.0),
         ParamSpec("seed", "int", 0, "random seed (same seed, same masks)", low=0),
         ParamSpec("class_maps", "int", 100, "maps for this many top classes (0: all)", low=0),
         _FUSED),
        False, lambda size, layer, p: int(p["masks"])),  # type: ignore[call-overload]
}


def _dispatch(name: str, ctx: Context, params: dict[str, object], request: AttributionRequest
              ) -> tuple[MethodOutput, str | None, str]:
    """Run one method; return its output, the layer used and the batch mode."""
    if name == "occlusion":
        return occlusion.run(ctx, params["window"], params["stride"], params["baseline"],
                             bool(params["fused"]), bool(params["refine"]),
                             int(params["coarse_step"]),  # type: ignore[call-overload]
                             float(params["keep_fraction"]),  # type: ignore[arg-type]
                             bool(params["compare"])), None, ctx.plan.mode
    if name == "rise":
        return rise.run(ctx, int(params["masks"]), int(params["grid"]),  # type: ignore[call-overload]
                        float(params["probability"]), int(params["seed"]),  # type: ignore[arg-type,call-overload]
                        int(params["class_maps"]), bool(params["fused"])), None, ctx.plan.mode  # type: ignore[call-overload]
    layer = find_layer(ctx.model, request.layer) if request.layer else \
        default_layer(ctx.model, ctx)
    acts = activations(ctx, layer)
    channels = int(params.get("channels", 0) or 0) or None  # type: ignore[call-overload]
    if name == "score-cam":
        out = score_cam.run(ctx, acts, str(params["variant"]), channels, bool(params["fused"]))
        return out, layer.name, ctx.plan.mode
    if name == "ablation-cam":
        out, mode = ablation_cam.run(ctx, acts, channels, bool(params["fused"]))
        return out, layer.name, mode
    out = eigen_cam.run(acts, (ctx.geometry.height, ctx.geometry.width), ctx.batch_size)
    return out, layer.name, ctx.plan.mode


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
        a spatial size above 1x1), parameters, batch size (default: grown
        while the memory estimate allows) and the exact-fp32 switch.
    preference
        Execution provider preference.
    progress, cancel
        Progress reports between batches; cancellation checked between batches.
    cache
        Session cache (fused graphs are cached there too).

    Returns
    -------
    AttributionResult

    Raises
    ------
    EngineError
        Typed errors; :class:`engine.errors.Cancelled` when cancelled (the
        cached sessions stay usable).
    """
    spec = METHODS.get(request.method)
    if spec is None:
        raise InputError(f"Unknown attribution method '{request.method}'; choose one of "
                         f"{', '.join(METHODS)}.")
    params = spec.resolve(request.params)
    token = ensure_token(cancel)
    start = time.perf_counter()
    mode: ScoreMode = "logit" if params.get("variant") == "pytorch-grad-cam" else "probability"
    ctx = prepare_context(model, prepared, request.target, preference, cache, progress, token,
                          request.batch_size, mode, request.exact_fp32)
    out, layer, batch_mode = _dispatch(request.method, ctx, params, request)
    target = ctx.target
    notes = [*ctx.notes, *out.notes, *prepared.warnings]
    return AttributionResult(
        method=request.method, variant=out.variant, heatmap=out.heatmap,
        target=request.target, target_index=target.index, target_score=ctx.target_score,
        layer=layer, params=tuple(params.items()), forward_passes=out.forward_passes,
        batch_mode=batch_mode, batch_size=out.batch_size, provider=ctx.provider,
        seconds=time.perf_counter() - start, notes=tuple(notes),
        request_id=request.request_id, class_maps=out.class_maps,
        class_indices=out.class_indices, path=out.path, stats=tuple(out.stats.items()),
        exact_fp32=request.exact_fp32)
