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
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.controller import Controller, PlanOutcome
from app.state import AppState, AttributionChoice
from app.views.common import plain_tooltip, text_label
from app.views.heatmap_view import HeatmapView
from app.views.param_form import ParamForm
from engine.attribution import registry
from engine.attribution.method_spec import Method
from engine.attribution.registry import AttributionPlan
from engine.attribution.types import AttributionRequest, AttributionResult, Target
from engine.errors import EngineError, InputError
from engine.types import Progress

TARGET_KINDS = (("top1", "Top-1 class"), ("class", "A class"), ("element", "An output element"),
                ("region", "A region of a map output"))


def eta_text(progress: Progress, elapsed: float) -> str:
    """``12/40 passes · 3 s elapsed · ETA 9 s``."""
    text = f"{progress.done}/{progress.total}" + (f" {progress.message}" if progress.message
                                                 else "")
    if progress.done > 0 and progress.total > progress.done:
        remaining = elapsed / progress.done * (progress.total - progress.done)
        return f"{text} · {elapsed:.0f} s elapsed · ETA {remaining:.0f} s"
    return f"{text} · {elapsed:.0f} s elapsed"


def method_tooltip(method: Method[Any]) -> str:
    """``Occlusion: Slides a window over the input ...`` (what it computes and costs)."""
    return f"{method.title}: {method.description}"


def cost_text(plan: AttributionPlan) -> str:
    """``Cost: 50 forward passes (1 reference + 49 perturbed)``; "at most" for a bound."""
    bound = "" if plan.exact or plan.passes == 0 else "at most "
    total = plan.total_passes
    noun = "forward pass" if total == 1 else "forward passes"
    return (f"Cost: {bound}{total} {noun} ({plan.reference_passes} reference + "
            f"{plan.passes} perturbed)")


def plan_details(plan: AttributionPlan) -> str:
    """What the plan says beyond the count: input geometry, layer, exactness (plain text)."""
    height, width = plan.size
    text = f"{plan.method} on the {height}×{width} {plan.layout} input"
    if plan.layer is not None:
        text += f", layer {plan.layer.name}"
    if plan.exact or plan.passes == 0:
        return text + "; the pass count is exact."
    return text + ("; an upper bound until the model has run once on this input (the "
                   "layer's constant channels are skipped).")


class TargetEditor(QWidget):
    """Top-1, a class from a searchable list, an output element or a region."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.kind = QComboBox(self)
        for key, text in TARGET_KINDS:
            self.kind.addItem(text, key)
        self.output = QComboBox(self)
        self.output.setToolTip("Which model output holds the score")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(QLabel("the class the model predicts", self))
        self.class_box = QComboBox(self)
        self.class_box.setEditable(True)
        self.class_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.class_box.setToolTip("Type to search the labels")
        # one completer for the widget's life (a new one per model would pile up)
        self._classes = QStringListModel(self)
        self._completer = QCompleter(self._classes, self)
        self._completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.class_box.setCompleter(self._completer)
        self.stack.addWidget(self.class_box)
        self.element = QSpinBox(self)
        self.element.setRange(0, 2**31 - 1)
        self.element.setToolTip("Flat index after the batch axis")
        self.stack.addWidget(self.element)
        region = QWidget(self)
        self.region_box = QLineEdit("0, 0, 8, 8", region)
        self.region_box.setToolTip("y0, x0, y1, x1 in output map pixels")
        self.region_channel = QSpinBox(region)
        self.region_channel.setRange(0, 100_000)
        row = QHBoxLayout(region)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.region_box, 2)
        row.addWidget(QLabel("ch", region))
        row.addWidget(self.region_channel)
        self.stack.addWidget(region)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.output)
        self.kind.currentIndexChanged.connect(self.stack.setCurrentIndex)
        state.modelChanged.connect(self.refresh)
        state.labelsChanged.connect(self.refresh)

    def refresh(self) -> None:
        """Fill outputs and the class list from the model and its labels."""
        self.output.clear()
        model = self.state.model
        if model is not None:
            self.output.addItems([t.name for t in model.info.outputs])
        self.class_box.clear()
        count = len(self.state.labels) or 1000
        items = [f"{i}: {self.state.label(i)}" for i in range(count)]
        self.class_box.addItems(items)
        self._classes.setStringList(items)

    def target(self) -> Target:
        """The target in the form.

        Raises
        ------
        InputError
            A class or region that does not parse.
        """
        kind = self.kind.currentData()
        output = self.output.currentText() or None
        if kind == "class":
            head = self.class_box.currentText().split(":", 1)[0].strip()
            try:
                return Target(kind="class", index=int(head), output=output)
            except ValueError as exc:
                raise InputError("Choose a class from the list (e.g. '285: Egyptian cat').") \
                    from exc
        if kind == "element":
            return Target(kind="element", index=self.element.value(), output=output)
        if kind == "region":
            try:
                y0, x0, y1, x1 = (int(v) for v in self.region_box.text().split(","))
            except ValueError as exc:
                raise InputError("A region needs four whole numbers: y0, x0, y1, x1.") from exc
            return Target(kind="region", index=self.region_channel.value(), box=(y0, x0, y1, x1),
                          output=output)
        return Target(kind="top1", output=output)


class AttributionPanel(QWidget):
    """Choose and run an attribution; see its cost, progress, ETA, heatmap and earlier results.

    The choice (method, layer, parameters) is written to the state on every edit
    and read back from it when a session restores one.
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
        self.layer.setPlaceholderText("the engine's default")
        self.layer.setToolTip("The conv layer a CAM method explains (default: chosen by the "
                              "engine for this input)")
        self.params = ParamForm(self)
        self.cost = text_label("", self)
        self.cost.setWordWrap(True)
        self.run_button = QPushButton("Run", self)
        self.run_button.setToolTip("Run the attribution (Ctrl+R)")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop the running attribution (Esc)")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.eta = text_label("", self)
        self.view = HeatmapView(state, self)
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Target", self.target)
        form.addRow("Layer", self.layer)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(form)
        layout.addWidget(self.params)
        layout.addWidget(self.cost)
        layout.addLayout(buttons)
        layout.addWidget(self.eta)
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
        self.layer.currentIndexChanged.connect(self._layer_changed)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        controller.attributionProgress.connect(self._on_progress)
        controller.attributionPreview.connect(lambda r: self.view.show_result(r, preview=True))
        controller.attributionReady.connect(self._on_ready)
        controller.attributionStopped.connect(self._on_stopped)
        controller.attributionPlanned.connect(self._on_planned)
        state.modelChanged.connect(self._model_changed)
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

    def _layer_changed(self, _index: int) -> None:
        if self._filling:
            return
        if not self._defaulting:
            self._layer_picked = True
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
            self.state.set_attribution_choice(
                AttributionChoice(spec.name, self.layer.currentText() or None, params))
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
            if choice.layer and choice.layer != self.layer.currentText() and \
                    self.layer.findText(choice.layer) >= 0:
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
        self._filling = True
        self.layer.clear()
        self.layer.addItems([la.name for la in self.state.layers if la.exposable])
        self.layer.setCurrentIndex(-1)  # the engine's default, shown once the input is known
        self._filling = False
        self._layer_picked = False
        self.progress.setValue(0)
        self.eta.setText("")
        self._edited()

    def _maps_changed(self) -> None:
        default = self.state.cam_layer
        if not self._layer_picked and default and self.layer.findText(default) >= 0:
            self._defaulting = True
            self.layer.setCurrentText(default)
            self._defaulting = False
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
        layer = (self.layer.currentText() or None) if spec.needs_layer else None
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
        self._finish(f"{result.method}: {result.forward_passes} forward passes "
                     f"({result.perturbation_passes} perturbed) in {result.seconds:.1f} s on "
                     f"{result.provider}")
        self.view.show_result(result)

    def _on_stopped(self, why: str) -> None:
        self.progress.setValue(0)
        self._finish(f"Attribution {why}.")
