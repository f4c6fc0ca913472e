"""Attribution panel: method, target, layer, parameters, cost, run/cancel, results.

The methods, their parameter fields, the default layer and the cost all come from
the engine's registry (:mod:`engine.attribution.registry`): the form is generated
from each method's :class:`~engine.attribution.method_spec.ParamSpec` tuple and the
cost is the engine's :class:`~engine.attribution.registry.AttributionPlan`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from PySide6.QtCore import QStringListModel, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFormLayout,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.controller import Controller, PlanOutcome
from app.state import AppState, AttributionChoice
from app.views.common import plain_tooltip, text_label
from app.views.heatmap_view import HeatmapView
from app.views.param_form import ParamForm
from app.views.result_text import (
    cost_text,
    details_text,
    eta_text,
    explained_words,
    method_tooltip,
    plan_details,
    result_sentence,
)
from app.views.target_editor import TargetEditor
from engine.attribution import registry
from engine.attribution.method_spec import Method
from engine.attribution.registry import AttributionPlan
from engine.attribution.types import AttributionRequest, AttributionResult
from engine.errors import EngineError, InputError
from engine.types import Progress


class AttributionPanel(QWidget):
    """Choose and run an attribution; see its cost, progress, ETA, heatmap and earlier results.

    The choice (method, layer, parameters) is written to the state on every edit
    and read back from it when a session restores one. The layer field takes any
    layer, or any 4-D tensor of the graph (typed, with completion); left empty it
    shows the engine's default for the target (for a detection: the last tensor
    before the head branch at that detection's stride).
    """

    def __init__(self, state: AppState, controller: Controller,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.controller = state, controller
        self.methods: dict[str, Method[Any]] = dict(registry.METHODS)
        self.method = QComboBox(self)
        for i, m in enumerate(self.methods.values()):
            self.method.addItem(m.title, m.name)
            self.method.setItemData(i, plain_tooltip(method_tooltip(m)),
                                    Qt.ItemDataRole.ToolTipRole)
        self.target = TargetEditor(state, self)
        self.layer = QComboBox(self)
        self.layer.setEditable(True)
        self.layer.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.layer.lineEdit().setPlaceholderText("the engine's default")
        self.layer.setToolTip(plain_tooltip(
            "The layer a CAM method explains: a conv layer from the list, or type the name of "
            "any 4-D tensor of the graph (a block output, a concatenation); empty: the engine's "
            "default for this target"))
        self._layer_names = QStringListModel(self)
        self._layer_completer = QCompleter(self._layer_names, self)
        self._layer_completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self._layer_completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.layer.setCompleter(self._layer_completer)
        self.params = ParamForm(self)
        self.cost = text_label("", self)
        self.cost.setWordWrap(True)
        self.run_button = QPushButton("Run", self)
        self.run_button.setToolTip(plain_tooltip("Run the attribution (Ctrl+R)"))
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip(plain_tooltip("Stop the running attribution (Esc)"))
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.eta = text_label("", self)
        self.eta.setWordWrap(True)
        self.details_button = QToolButton(self)
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setToolTip(plain_tooltip(
            "Batching, provider, parameters and the engine's notes "
            "for the last result"))
        self.details_button.setEnabled(False)
        self.details = text_label("", self)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setStyleSheet("color: #b0b0b0")
        self.details.hide()
        self.view = HeatmapView(state, self)
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Explain", self.target)
        form.addRow("Layer", self.layer)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        result_row = QHBoxLayout()
        result_row.addWidget(self.eta, 1)
        result_row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(form)
        layout.addWidget(self.params)
        layout.addWidget(self.cost)
        layout.addLayout(buttons)
        layout.addLayout(result_row)
        layout.addWidget(self.details)
        layout.addWidget(self.view, 1)
        self._running = False
        self._syncing = False  # applying the state's choice: no write-back per field
        self._filling = False  # refilling the layer list
        self._defaulting = False  # showing the engine's default layer
        self._layer_picked = False  # a layer was chosen (user, session) since the model opened
        self._awaiting: AttributionRequest | None = None  # whose exact plan is on its way
        self._exact_wanted = False  # an exact plan waits for the running attribution
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(100)
        self._estimate_timer.timeout.connect(self.update_cost)
        self.method.currentIndexChanged.connect(self._method_changed)
        self.params.changed.connect(self._edited)
        self.layer.currentTextChanged.connect(self._layer_changed)
        self.target.changed.connect(self._target_changed)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.details_button.toggled.connect(self._toggle_details)
        controller.attributionProgress.connect(self._on_progress)
        controller.attributionPreview.connect(lambda r: self.view.show_result(r, preview=True))
        controller.attributionReady.connect(self._on_ready)
        controller.attributionStopped.connect(self._on_stopped)
        controller.attributionPlanned.connect(self._on_planned)
        state.modelChanged.connect(self._model_changed)
        state.layersChanged.connect(self._fill_layers)
        state.mapsChanged.connect(self._maps_changed)
        state.attributionChoiceChanged.connect(self._apply_choice)
        self._method_changed()

    # -- choices ---------------------------------------------------------------------------
    def current_method(self) -> Method[Any] | None:
        """The chosen method's registry entry."""
        return self.methods.get(self.method.currentData())

    def select_method(self, name: str) -> bool:
        """Choose a method by registry name."""
        index = self.method.findData(name)
        if index >= 0:
            self.method.setCurrentIndex(index)
        return index >= 0

    def _method_changed(self) -> None:
        spec = self.current_method()
        self.params.set_specs(spec.params if spec else ())
        self.layer.setEnabled(bool(spec and spec.needs_layer))
        self.method.setToolTip(plain_tooltip(method_tooltip(spec)) if spec else "")
        self._edited()

    def _layer_changed(self, _text: str) -> None:
        if self._filling:
            return
        if not self._defaulting:
            self._layer_picked = bool(self.layer.currentText())
        self._edited()

    def _target_changed(self) -> None:
        self._show_default_layer()
        self._edited()

    def _edited(self) -> None:
        if not self._syncing:
            self._store_choice()
        self._estimate_timer.start()

    def _store_choice(self) -> None:
        """Write the form's choice to the state (the last valid parameters on a bad field)."""
        spec = self.current_method()
        if spec is None:
            return
        try:
            params = self._params(spec)
        except InputError:
            old = self.state.attribution_choice
            params = old.params if old is not None and old.method == spec.name else ()
        self._syncing = True  # our own change: not to be applied back to the form
        try:
            layer = self.layer.currentText() if self._layer_picked else ""
            self.state.set_attribution_choice(AttributionChoice(spec.name, layer or None, params))
        finally:
            self._syncing = False

    def _apply_choice(self) -> None:
        """Show the state's choice (a restored session) in the form."""
        choice = self.state.attribution_choice
        if choice is None or self._syncing:
            return
        self._syncing = True
        try:
            if choice.method != self.method.currentData():
                self.select_method(choice.method)
            if choice.layer and choice.layer != self.layer.currentText():
                self._layer_picked = True
                self.layer.setCurrentText(choice.layer)
            names, shown = self.params.names(), dict(self._form_pairs())
            for name, value in choice.params:
                if name in names and shown.get(name) != value:
                    # a value this version refuses leaves the field as it is
                    with contextlib.suppress(InputError):
                        self.params.set_value(name, value)
        finally:
            self._syncing = False
        self._store_choice()

    def _form_pairs(self) -> tuple[tuple[str, object], ...]:
        try:
            return self.params.values()
        except InputError:
            return ()

    def _params(self, spec: Method[Any]) -> tuple[tuple[str, object], ...]:
        """The form's parameters, resolved and checked by the method (InputError)."""
        return spec.as_pairs(spec.resolve(self.params.values()))

    def _model_changed(self) -> None:
        self._layer_picked = False
        self._fill_layers()
        self.progress.setValue(0)
        self.eta.setText("")
        self._show_details(None)
        self._edited()

    def _fill_layers(self) -> None:
        """Conv layers in the list; those and every 4-D tensor in the completion."""
        current = self.layer.currentText() if self._layer_picked else ""
        self._filling = True
        self.layer.clear()
        names = [la.name for la in self.state.layers if la.exposable]
        self.layer.addItems(names)
        self._layer_names.setStringList(list(dict.fromkeys([*names, *self.state.tensors])))
        self.layer.setCurrentIndex(-1)
        self.layer.setEditText(current)
        self._filling = False
        self._show_default_layer()

    def default_layer(self) -> str | None:
        """The engine's default CAM layer for the chosen target (None: not known yet)."""
        item = self.target.chosen_item()
        layers = self.state.cam_layers
        if item is not None and item.stride and item.stride in layers:
            return layers[item.stride]
        return layers.get(0)

    def _show_default_layer(self) -> None:
        if self._layer_picked:
            return
        default = self.default_layer() or ""
        if default != self.layer.currentText():
            self._defaulting = True
            self.layer.setEditText(default)
            self._defaulting = False

    def _maps_changed(self) -> None:
        self._show_default_layer()
        self._estimate_timer.start()

    def request(self) -> AttributionRequest:
        """The request the form describes.

        Raises
        ------
        InputError
            A field the method's spec refuses (the engine's sentence), or a bad target.
        """
        spec = self.current_method()
        if spec is None:
            raise InputError("No attribution method is registered.")
        layer = (self.layer.currentText().strip() or None) if spec.needs_layer else None
        return AttributionRequest(method=spec.name, target=self.target.target(), layer=layer,
                                  params=self._params(spec))
    # -- cost ------------------------------------------------------------------------------
    def update_cost(self) -> None:
        """Show the engine's plan: at once (exact or a bound), exact later off the GUI thread."""
        self._awaiting = None
        self.cost.setToolTip("")
        try:
            request = self.request()
        except InputError as exc:
            self.cost.setText(exc.message)
            return
        try:
            plan = self.controller.plan_now(request)
        except EngineError as exc:
            self.cost.setText(exc.message)
            return
        if plan is None:
            self.cost.setText("Cost: known once a model and an input are open")
            return
        self._show_plan(plan)
        if plan.exact or plan.passes == 0:
            return
        self._awaiting = request
        if self._running:
            self._exact_wanted = True  # the worker is busy: ask once the attribution ends
        else:
            self.controller.plan_exact(request)

    def _show_plan(self, plan: AttributionPlan) -> None:
        self.cost.setText(cost_text(plan))
        self.cost.setToolTip(plain_tooltip(plan_details(plan)))

    def _on_planned(self, outcome: PlanOutcome) -> None:
        if outcome.request != self._awaiting:
            return  # the form changed since it was asked
        self._awaiting = None
        if outcome.plan is not None:
            self._show_plan(outcome.plan)
        elif outcome.error is not None:
            self.cost.setText(outcome.error.message)

    # -- run ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Start the attribution described by the form."""
        try:
            request = self.request()
        except InputError as exc:
            self.controller.notifier.notify("warning", exc.message)
            return
        if self.controller.run_attribution(request) is None:
            return
        self._running = True
        self._started = time.monotonic()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.eta.setText(f"{request.method} running…")

    def cancel(self) -> None:
        """Cancel the running attribution."""
        self.controller.cancel_attribution()
        self.eta.setText("cancelling…")

    def _on_progress(self, progress: Progress, elapsed: float) -> None:
        if progress.total > 0:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.done)
        self.eta.setText(eta_text(progress, elapsed))

    def _finish(self, text: str) -> None:
        self._running = False
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 100)
        self.eta.setText(text)
        if self._exact_wanted:
            self._exact_wanted = False
            self._estimate_timer.start()

    def _on_ready(self, result: AttributionResult) -> None:
        self.progress.setValue(self.progress.maximum())
        self._finish(result_sentence(result, explained_words(self.state, result)))
        self._show_details(result)
        self.view.show_result(result)

    def _on_stopped(self, why: str) -> None:
        self.progress.setValue(0)
        self._finish(f"Attribution {why}.")
        self.view.drop_preview()

    # -- details ---------------------------------------------------------------------------
    def _show_details(self, result: AttributionResult | None) -> None:
        self.details.setText(details_text(result) if result is not None else "")
        self.details_button.setEnabled(result is not None)
        if result is None:
            self.details_button.setChecked(False)

    def _toggle_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown
                                         else Qt.ArrowType.RightArrow)
