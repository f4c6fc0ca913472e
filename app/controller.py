"""Turns user intentions into engine jobs and engine results into state.

Every engine call that may take time happens inside a job on the
:class:`~app.jobs.JobRunner` worker (only :meth:`Controller.plan_now`, which the
engine answers without running the model, is called on the GUI thread); this module
only composes engine functions and drops stale results (a result whose job id is
not the latest of its kind).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.input_run import name_predictions, run_on_input
from app.jobs import JobContext, JobFunction, JobRunner
from app.notify import Notifier
from app.paths import LABELS_DIR
from app.settings import Settings
from app.spec_reasons import reason_line, spec_reasons
from app.state import AppState, InputRun
from engine.attribution import registry
from engine.attribution.registry import AttributionPlan
from engine.attribution.types import AttributionRequest, AttributionResult
from engine.errors import Cancelled, EngineError
from engine.featuremaps import extract_feature_maps, model_layers
from engine.heads import Predictions
from engine.input_override import at_input_size
from engine.input_proposal import SpecProposal, propose_input_spec
from engine.model_io import LoadedModel, load_model
from engine.predictions import LABELS_KEY, find_labels, read_labels
from engine.preprocess import prepare_input
from engine.providers import ProviderPreference
from engine.types import FeatureMaps, InputSpec, LayerInfo, PreparedInput

LOG = logging.getLogger("featurescope.controller")
PREVIEW_METHOD = "eigen-cam"
#: Jobs the user did not ask for: no busy indicator, no Stop button.
QUIET_KINDS = frozenset({"plan"})
#: Message topics that belong to the open model (ended when another opens or it closes).
MODEL_TOPICS = ("model", "maps", "input", "predict", "attribution", "plan")


@dataclass(frozen=True)
class _Loaded:
    model: LoadedModel
    layers: tuple[LayerInfo, ...]
    labels: tuple[str, ...]
    labels_source: str
    proposal: SpecProposal
    seconds: float


@dataclass(frozen=True)
class _InputResult:
    run: InputRun
    maps: FeatureMaps | None
    model: LoadedModel | None = None  # the model rewritten for another input size, if it was
    note: str = ""


@dataclass(frozen=True)
class _Repredicted:
    prepared: PreparedInput
    predicted: Predictions | None
    error: str


@dataclass(frozen=True)
class PlanOutcome:
    """The engine's plan of ``request`` (or why there is none), for the attribution panel."""

    request: AttributionRequest
    plan: AttributionPlan | None
    error: EngineError | None = None


class Controller(QObject):
    """Open models and inputs, run maps and attributions, keep the state current."""

    mapsReady = Signal()
    modelFailed = Signal(str)
    attributionReady = Signal(object)
    attributionPreview = Signal(object)
    attributionProgress = Signal(object, float)
    attributionStopped = Signal(str)
    attributionPlanned = Signal(object)

    def __init__(self, state: AppState, runner: JobRunner, notifier: Notifier,
                 settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.runner, self.notifier, self.settings = state, runner, notifier, settings
        self.preference: ProviderPreference = "auto"
        self._latest: dict[str, int] = {}
        self._attr_started = 0.0
        self._pending_image: Path | None = None
        self._pending_spec: InputSpec | None = None
        #: Whether the spec in use is the one remembered for this model (not the proposal).
        self.spec_remembered = False
        self._deferred: AttributionRequest | None = None
        runner.started.connect(self._on_started)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)
        runner.partial.connect(self._on_partial)
        runner.progress.connect(self._on_progress)
        runner.idle.connect(lambda: state.set_busy(False, ""))

    # -- requests ------------------------------------------------------------------------
    def open_model(self, path: str | Path, image: str | Path | None = None,
                   spec: InputSpec | None = None) -> int:
        """Load a model off the GUI thread; then run it on ``image`` (or the current one)."""
        p = Path(path)
        if image:
            self.settings.add_recent("images", Path(image))
        self._pending_image = Path(image) if image else self.state.image_path
        self._pending_spec = spec

        def work(ctx: JobContext) -> _Loaded:
            t0 = time.perf_counter()
            model = load_model(p)
            ctx.cancel.check()
            layers = model_layers(model)
            labels_path = find_labels(model.info.path, model.info.metadata_value(LABELS_KEY),
                                      LABELS_DIR)
            labels = read_labels(labels_path) if labels_path else ()
            proposal = propose_input_spec(model)
            return _Loaded(model, layers, labels, str(labels_path or ""), proposal,
                           time.perf_counter() - t0)

        self.runner.cancel()
        return self._submit("model", work, f"Loading {p.name}")

    def open_image(self, path: str | Path) -> int | None:
        """Use another input file with the current model."""
        self.settings.add_recent("images", Path(path))
        self.state.set_input(Path(path), self.state.spec)
        return self.run_maps()

    def set_spec(self, spec: InputSpec) -> int | None:
        """Change the preprocessing, remember it for this model and re-run."""
        self.spec_remembered = False
        self.state.set_input(self.state.image_path, spec)
        if self.state.model is not None:
            self.settings.save_spec(self.state.model.sha256, spec)
        return self.run_maps()

    def spec_reasons(self) -> dict[str, str]:
        """Why each part of the spec in use was chosen (the model's proposal or the user)."""
        spec = self.state.spec
        if spec is None:
            return {}
        return spec_reasons(spec, self.state.proposal, self.spec_remembered)

    def set_labels(self, path: Path) -> int | None:
        """Use a labels file chosen by the user; the predictions are named again."""
        try:
            labels = read_labels(path)
        except EngineError as exc:
            self.notifier.error(exc)
            return None
        self.state.set_labels(labels, str(path))
        model, prepared, preference = self.state.model, self.state.prepared, self.preference
        if model is None or prepared is None:
            return None

        def work(ctx: JobContext) -> _Repredicted:
            return _Repredicted(prepared, *name_predictions(model, prepared, labels, preference,
                                                            ctx.cancel))

        return self._submit("predict", work, "Naming the predictions")

    def run_maps(self) -> int | None:
        """Prepare the input, say what the model predicts and extract every layer's maps.

        One job per change of model, input or spec: the model runs once for the
        predictions and once with its layers exposed.
        """
        model, image, spec = self.state.model, self.state.image_path, self.state.spec
        if model is None or image is None:
            return None
        labels, preference = self.state.labels, self.preference
        reason = reason_line(self.spec_reasons())

        def work(ctx: JobContext) -> _InputResult:
            used, note = at_input_size(model, spec.height, spec.width) if spec is not None \
                else (model, "")
            why = f"{reason}; {note}" if note else reason
            prepared = replace(prepare_input(used.info, image, spec), spec_reason=why)
            ctx.cancel.check()
            run = run_on_input(used, prepared, labels, preference, ctx.cancel)
            ctx.cancel.check()
            maps = None
            if any(layer.exposable for layer in run.layers):
                maps = extract_feature_maps(used, prepared, None, preference,
                                            progress=ctx.progress, cancel=ctx.cancel,
                                            request_id=ctx.job_id)
            ctx.cancel.check()
            return _InputResult(run, maps, used if note else None, note)

        return self._submit("maps", work, f"Computing feature maps of {image.name}",
                            supersede_running=True)

    def run_attribution(self, request: AttributionRequest, preview: bool = True) -> int | None:
        """Run an attribution; Eigen-CAM first as an instant preview for slower methods."""
        if self.runner.active_kinds() & {"model", "maps"}:
            # the input is being recomputed: run on the new one once it is there
            self._deferred = request
            self._attr_started = time.monotonic()
            self.state.set_busy(True, f"{request.method} waits for the feature maps")
            return -1
        model, prepared = self.state.model, self.state.prepared
        if model is None or prepared is None:
            self.notifier.notify("warning", "Open a model and an input before an attribution.")
            return None
        preference = self.preference
        want_preview = (preview and request.method != PREVIEW_METHOD
                        and PREVIEW_METHOD in registry.METHODS)

        def work(ctx: JobContext) -> AttributionResult:
            if want_preview:
                # the request's layer, or (None) the engine's default one
                quick = AttributionRequest(method=PREVIEW_METHOD, target=request.target,
                                           layer=request.layer, request_id=ctx.job_id)
                try:
                    ctx.partial(registry.run_attribution(model, prepared, quick, preference,
                                                         cancel=ctx.cancel))
                except Exception as exc:  # noqa: BLE001 - the preview is optional
                    LOG.info("Eigen-CAM preview failed: %s", exc)
                ctx.cancel.check()
            return registry.run_attribution(model, prepared,
                                            replace(request, request_id=ctx.job_id), preference,
                                            progress=ctx.progress, cancel=ctx.cancel)

        self._attr_started = time.monotonic()
        return self._submit("attribution", work, f"Running {request.method}")

    def plan_now(self, request: AttributionRequest) -> AttributionPlan | None:
        """The engine's plan of ``request`` without running the model; None without an input.

        Instant (it only resolves shapes, cached per model and input size), so it is asked
        on the GUI thread; for CAM methods the pass count is an upper bound until
        :meth:`plan_exact` has run the model.

        Raises
        ------
        EngineError
            Refused parameters, an unknown layer, a model attribution cannot explain.
        """
        model, prepared = self.state.model, self.state.prepared
        if model is None or prepared is None:
            return None
        return registry.plan_attribution(model, prepared, request, self.preference,
                                         run_model=False)

    def plan_exact(self, request: AttributionRequest) -> int | None:
        """Ask the engine for the exact plan of ``request`` off the GUI thread.

        The engine runs the model once on the input (cached per input and layer) to
        count the layer's constant channels; ``attributionPlanned`` brings a
        :class:`PlanOutcome`. Returns the job id, or None without a model and an input.
        """
        model, prepared, preference = self.state.model, self.state.prepared, self.preference
        if model is None or prepared is None:
            return None

        def work(ctx: JobContext) -> PlanOutcome:
            try:
                plan = registry.plan_attribution(model, prepared, request, preference,
                                                 run_model=True, cancel=ctx.cancel)
            except Cancelled:
                raise
            except EngineError as exc:  # said by the panel, not as an error notice
                return PlanOutcome(request, None, exc)
            return PlanOutcome(request, plan)

        return self._submit("plan", work, f"Estimating the cost of {request.method}",
                            supersede_running=True)

    def cancel_attribution(self) -> None:
        """Cancel the running or pending attribution."""
        if self._deferred is not None:
            self._deferred = None
            self.attributionStopped.emit("cancelled")
        job = self._latest.get("attribution")
        if job is not None:
            self.runner.cancel(job)

    def cancel_all(self) -> None:
        """Stop whatever runs or waits (the status bar's Stop button)."""
        self._drop_deferred("maps")
        self.runner.cancel()

    def close_model(self) -> None:
        """Forget the model and everything computed from it; in-flight work is dropped."""
        self.runner.cancel()
        self._drop_deferred("model")
        for kind in ("model", "maps"):
            self._latest[kind] = -1  # a result already on its way is not the latest
        self._pending_image, self._pending_spec = None, None
        self.notifier.resolve(*MODEL_TOPICS)
        self.state.set_model(None, ())
        self.state.set_input(self.state.image_path, None)

    # -- plumbing ------------------------------------------------------------------------
    def _submit(self, kind: str, work: JobFunction, label: str,
                supersede_running: bool = False) -> int:
        job_id = self.runner.submit(kind, work, label, supersede_running=supersede_running)
        self._latest[kind] = job_id
        if kind not in QUIET_KINDS:
            self.state.set_busy(True, label)
        return job_id

    def _is_latest(self, job_id: int, kind: str) -> bool:
        return self._latest.get(kind) == job_id

    def _on_started(self, job_id: int, kind: str, label: str) -> None:
        if self._is_latest(job_id, kind) and kind not in QUIET_KINDS:
            self.state.set_busy(True, label)

    def _on_progress(self, job_id: int, kind: str, progress: object) -> None:
        if kind == "attribution" and self._is_latest(job_id, kind):
            self.attributionProgress.emit(progress, time.monotonic() - self._attr_started)

    def _on_partial(self, job_id: int, kind: str, value: object) -> None:
        if kind == "attribution" and self._is_latest(job_id, kind):
            self.attributionPreview.emit(value)

    def _on_finished(self, job_id: int, kind: str, result: object) -> None:
        if not self._is_latest(job_id, kind):
            return
        if isinstance(result, _Loaded):
            self._model_loaded(result)
        elif isinstance(result, _Repredicted):
            if result.prepared is self.state.prepared:
                self.state.set_predictions(result.predicted, result.error)
        elif isinstance(result, _InputResult):
            self.notifier.resolve("maps", "input", "predict")
            self.state.set_input_run(result.run, result.maps, result.model)
            if result.note:
                self.notifier.notify("info", f"Input: {result.note}.", topic="input")
            for warning in result.run.prepared.warnings:
                self.notifier.notify("info", f"Input: {warning}", topic="input")
            self.mapsReady.emit()
            deferred, self._deferred = self._deferred, None
            if deferred is not None:
                self.run_attribution(deferred)
        elif isinstance(result, AttributionResult):
            if self.state.model is None:  # finished just as its model was closed
                self.attributionStopped.emit("cancelled")
                return
            self.notifier.resolve("attribution")
            self.state.add_attribution(result)
            self.attributionReady.emit(result)
        elif isinstance(result, PlanOutcome):
            self.attributionPlanned.emit(result)

    def _model_loaded(self, loaded: _Loaded) -> None:
        info = loaded.model.info
        self.notifier.resolve(*MODEL_TOPICS)  # a model opened: earlier messages are history
        self.settings.add_recent("models", info.path)
        self.state.set_model(loaded.model, loaded.layers, loaded.labels, loaded.labels_source,
                             loaded.proposal)
        for warning in loaded.model.warnings:
            self.notifier.notify("warning", f"Model: {warning}", topic="model")
        remembered = self._pending_spec or self.settings.load_spec(info.sha256)
        self.spec_remembered = remembered is not None and remembered != loaded.proposal.spec
        spec = remembered or loaded.proposal.spec
        image = self._pending_image
        self._pending_spec, self._pending_image = None, None
        self.state.set_input(image, spec)
        if not any(la.exposable for la in loaded.layers):
            self.notifier.notify("warning", "This model has no convolution layer that can be "
                                 "shown.", topic="model")
        if image is not None:
            self.run_maps()
        else:
            self._drop_deferred("model")

    def _drop_deferred(self, kind: str) -> None:
        if kind in ("model", "maps") and self._deferred is not None:
            self._deferred = None
            self.attributionStopped.emit("cancelled")

    def _on_failed(self, job_id: int, kind: str, exc: object) -> None:
        if self._is_latest(job_id, kind):
            self._drop_deferred(kind)
        if kind == "model" and self._is_latest(job_id, kind):
            self.modelFailed.emit(str(exc))
        if kind == "attribution" and self._is_latest(job_id, kind):
            self.attributionStopped.emit("failed")

    def _on_cancelled(self, job_id: int, kind: str) -> None:
        if self._is_latest(job_id, kind):
            self._drop_deferred(kind)
        if kind == "attribution" and self._is_latest(job_id, kind):
            self.attributionStopped.emit("cancelled")
