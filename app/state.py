"""The application's one state object: what is open and how it is shown.

Views read from :class:`AppState` and connect to its change signals; they never
compute what the engine computes and never hold their own copy of the model.
The controller (``app.controller``) is the only writer of engine results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.attribution.types import AttributionResult
from engine.heads import PredictionItem, Predictions
from engine.input_proposal import SpecProposal
from engine.model_io import LoadedModel
from engine.types import (
    FeatureMaps,
    InputSpec,
    LayerInfo,
    LayerMaps,
    PreparedInput,
    RunInfo,
)

NORMALIZATIONS: tuple[str, ...] = ("channel", "layer", "fixed")
SORT_KEYS: tuple[str, ...] = ("index", "mean", "max", "sparsity")


@dataclass(frozen=True)
class AttributionChoice:
    """The attribution the panel describes: a registered method, a CAM layer, parameters.

    ``layer`` None lets the engine choose its default layer; ``params`` are
    (name, value) pairs as the method's specs parse them.
    """

    method: str
    layer: str | None = None
    params: tuple[tuple[str, object], ...] = ()

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, as a session file holds it."""
        return {"method": self.method, "layer": self.layer, "params": dict(self.params)}


@dataclass(frozen=True)
class InputRun:
    """What one run of the model on the input says, before its feature maps are extracted.

    ``layers`` is the layer catalogue with shapes resolved for this input's size;
    ``predicted`` the recognised head and its predictions (None with ``error`` when
    the engine could not tell); ``cam_layers`` maps a detection's stride to the
    engine's default CAM layer for it (stride 0: the default for other targets);
    ``tensors`` names every 4-D tensor of the graph (any of them can be a CAM layer).
    """

    prepared: PreparedInput
    layers: tuple[LayerInfo, ...]
    predicted: Predictions | None
    error: str = ""
    cam_layers: tuple[tuple[int, str], ...] = ()
    tensors: tuple[str, ...] = ()


class AppState(QObject):
    """Model, input, feature maps, selection and display settings, with change signals."""

    modelChanged = Signal()
    inputChanged = Signal()
    mapsChanged = Signal()
    predictionsChanged = Signal()
    layersChanged = Signal()
    targetChanged = Signal()
    layerChanged = Signal(str)
    channelChanged = Signal(int)
    displayChanged = Signal()
    attributionsChanged = Signal()
    busyChanged = Signal(bool, str)
    labelsChanged = Signal()
    opacityChanged = Signal()
    attributionChoiceChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model: LoadedModel | None = None
        self.layers: tuple[LayerInfo, ...] = ()
        self.labels: tuple[str, ...] = ()
        self.labels_source: str = ""
        self.image_path: Path | None = None
        self.spec: InputSpec | None = None
        self.prepared: PreparedInput | None = None
        self.maps: FeatureMaps | None = None
        self.run_info: RunInfo | None = None
        #: The spec the model proposes, with the reason for each part.
        self.proposal: SpecProposal | None = None
        #: The recognised head and its predictions on the current input.
        self.predicted: Predictions | None = None
        self.prediction_error: str = ""
        #: Detection stride -> default CAM layer (0: for any other target).
        self.cam_layers: dict[int, str] = {}
        #: Every 4-D tensor of the graph at this input size (CAM layer candidates).
        self.tensors: tuple[str, ...] = ()
        #: The attribution target as the engine's target text (None: the top prediction).
        self.target: str | None = None
        self.layer_name: str | None = None
        self.channel: int | None = None
        self.colormap: str = "viridis"
        self.normalization: str = "channel"
        self.fixed_range: tuple[float, float] = (0.0, 6.0)
        self.sort_key: str = "index"
        self.opacity: float = 0.5
        self.heatmap_opacity: float = 0.55
        #: The engine's default CAM layer for the current input (from its attribution plan).
        self.cam_layer: str | None = None
        self.attribution_choice: AttributionChoice | None = None
        self.attributions: list[AttributionResult] = []
        self.busy: bool = False
        self.busy_text: str = ""

    # -- writers used by the controller -------------------------------------------------
    def set_model(self, model: LoadedModel | None, layers: tuple[LayerInfo, ...],
                  labels: tuple[str, ...] = (), labels_source: str = "",
                  proposal: SpecProposal | None = None) -> None:
        """A new model: everything derived from the previous one is dropped."""
        self.model, self.layers = model, layers
        self.labels, self.labels_source = labels, labels_source
        self.proposal = proposal
        self.prepared, self.maps, self.run_info = None, None, None
        self.predicted, self.prediction_error = None, ""
        self.cam_layer, self.cam_layers, self.tensors = None, {}, ()
        self.target = None
        self.attributions = []
        self.channel = None
        keep = self.layer_name if any(la.name == self.layer_name for la in layers) else None
        self.layer_name = keep
        self.modelChanged.emit()
        self.mapsChanged.emit()
        self.predictionsChanged.emit()
        self.attributionsChanged.emit()

    def set_input(self, path: Path | None, spec: InputSpec | None) -> None:
        """The chosen image and preprocessing (before the run)."""
        self.image_path, self.spec = path, spec
        self.inputChanged.emit()

    def set_labels(self, labels: tuple[str, ...], source: str) -> None:
        """Other class labels (the predictions named with them follow from a new run)."""
        self.labels, self.labels_source = labels, source
        self.labelsChanged.emit()

    def set_predictions(self, predicted: Predictions | None, error: str = "") -> None:
        """New predictions on the same input (other labels); the target is kept if it still
        names one of them."""
        self.predicted, self.prediction_error = predicted, error
        if self.target is not None and not any(i.target == self.target
                                                for i in self.predictions):
            self.target = None
        self.predictionsChanged.emit()
        self.targetChanged.emit()

    def set_input_run(self, run: InputRun, maps: FeatureMaps | None,
                      model: LoadedModel | None = None) -> None:
        """The input as prepared, the layer shapes at its size, what the model predicts on
        it and its feature maps (None: the model has no layer that can be shown); ``model``
        replaces the open one when its input dims were rewritten for the chosen size.

        Everything computed from an earlier input is replaced at once, so every view
        shows this input.
        """
        if model is not None:
            self.model = model
        self.prepared, self.layers = run.prepared, run.layers
        self.predicted, self.prediction_error = run.predicted, run.error
        self.cam_layers, self.tensors = dict(run.cam_layers), run.tensors
        self.cam_layer = self.cam_layers.get(0)
        self.target = None
        self.maps, self.run_info = maps, maps.run if maps is not None else None
        names = [m.layer.name for m in maps.layers] if maps is not None else []
        if self.layer_name not in names:
            self.layer_name = names[0] if names else None
            self.channel = None
        self.attributions = []
        self.inputChanged.emit()
        self.layersChanged.emit()
        self.mapsChanged.emit()
        self.predictionsChanged.emit()
        self.targetChanged.emit()
        self.attributionsChanged.emit()
        if self.layer_name is not None:
            self.layerChanged.emit(self.layer_name)

    def choose_target(self, target: str | None) -> None:
        """The attribution target, as engine target text (None: the top prediction)."""
        if target == self.target:
            return
        self.target = target
        self.targetChanged.emit()

    def add_attribution(self, result: AttributionResult, keep: int = 6) -> None:
        """Append a finished attribution (newest first in :attr:`attributions`)."""
        self.attributions.insert(0, result)
        del self.attributions[keep:]
        self.attributionsChanged.emit()

    def clear_attributions(self) -> None:
        """Forget every attribution result."""
        self.attributions = []
        self.attributionsChanged.emit()

    def set_busy(self, busy: bool, text: str = "") -> None:
        """Whether engine work is running, and what."""
        self.busy, self.busy_text = busy, text
        self.busyChanged.emit(busy, text)

    # -- selection and display ---------------------------------------------------------
    def select_layer(self, name: str) -> None:
        """Show the layer called ``name`` (no-op if unchanged)."""
        if name == self.layer_name:
            return
        self.layer_name = name
        self.channel = None
        self.layerChanged.emit(name)

    def select_channel(self, channel: int) -> None:
        """Open one channel of the current layer."""
        self.channel = channel
        self.channelChanged.emit(channel)

    def set_display(self, *, colormap: str | None = None, normalization: str | None = None,
                    sort_key: str | None = None,
                    fixed_range: tuple[float, float] | None = None) -> None:
        """Change how maps are drawn; one ``displayChanged`` for all changes."""
        changed = False
        for name, value in (("colormap", colormap), ("normalization", normalization),
                            ("sort_key", sort_key), ("fixed_range", fixed_range)):
            if value is not None and getattr(self, name) != value:
                setattr(self, name, value)
                changed = True
        if changed:
            self.displayChanged.emit()

    def set_opacity(self, *, channel: float | None = None, heatmap: float | None = None) -> None:
        """Opacity (0..1) of the channel overlay and of attribution heatmaps over the input.

        Its own signal, ``opacityChanged``: a slider drag re-blends, it redraws nothing else.
        """
        changed = False
        for name, value in (("opacity", channel), ("heatmap_opacity", heatmap)):
            if value is not None:
                value = min(1.0, max(0.0, float(value)))
                if getattr(self, name) != value:
                    setattr(self, name, value)
                    changed = True
        if changed:
            self.opacityChanged.emit()

    def set_attribution_choice(self, choice: AttributionChoice | None) -> None:
        """The attribution the panel describes (what a session saves); no-op if unchanged."""
        if choice == self.attribution_choice:
            return
        self.attribution_choice = choice
        self.attributionChoiceChanged.emit()

    # -- readers -------------------------------------------------------------------------
    def current_maps(self) -> LayerMaps | None:
        """The feature maps of the selected layer, if computed."""
        if self.maps is None or self.layer_name is None:
            return None
        try:
            return self.maps.layer(self.layer_name)
        except KeyError:
            return None

    def layer_info(self, name: str | None = None) -> LayerInfo | None:
        """The catalogue entry of a layer (default: the selected one)."""
        wanted = self.layer_name if name is None else name
        for layer in self.layers:
            if layer.name == wanted:
                return layer
        return None

    @property
    def predictions(self) -> tuple[PredictionItem, ...]:
        """What the model predicts on the input, best first (empty before the first run)."""
        return self.predicted.items if self.predicted is not None else ()

    def prediction(self, target: str | None = None) -> PredictionItem | None:
        """The prediction whose target text is ``target`` (default: the chosen target, or
        the top prediction when none is chosen)."""
        items = self.predictions
        wanted = self.target if target is None else target
        if wanted is None:
            return items[0] if items else None
        return next((item for item in items if item.target == wanted), None)

    def label(self, index: int) -> str:
        """The class label of ``index`` or ``class N``."""
        if 0 <= index < len(self.labels):
            return self.labels[index]
        return f"class {index}"
