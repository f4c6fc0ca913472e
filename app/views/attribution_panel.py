"""Attribution panel: method, target, layer, parameters, cost, run/cancel, results."""

from __future__ import annotations

import time

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

from app import attribution_api
from app.controller import Controller
from app.state import AppState
from app.views.common import text_label
from app.views.heatmap_view import HeatmapView
from app.views.param_form import ParamForm
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
    """Choose and run an attribution; see progress, ETA, the heatmap and earlier results."""

    def __init__(self, state: AppState, controller: Controller,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.controller = state, controller
        self.methods = attribution_api.methods()
        self.method = QComboBox(self)
        for i, m in enumerate(self.methods):
            self.method.addItem(m.title, m.name)
            self.method.setItemData(i, m.tooltip(), Qt.ItemDataRole.ToolTipRole)
        self.target = TargetEditor(state, self)
        self.layer = QComboBox(self)
        self.layer.setToolTip("The conv layer a CAM method explains (default: the last one)")
        self.params = ParamForm(self)
        self.cost = text_label("", self)
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
        if not attribution_api.AVAILABLE:
            missing = text_label(
                f"Attribution is unavailable: {attribution_api.UNAVAILABLE_REASON}.", self)
            missing.setWordWrap(True)
            layout.addWidget(missing)
            self.run_button.setEnabled(False)
        layout.addLayout(form)
        layout.addWidget(self.params)
        layout.addWidget(self.cost)
        layout.addLayout(buttons)
        layout.addWidget(self.eta)
        layout.addWidget(self.view, 1)
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(100)
        self._estimate_timer.timeout.connect(self.update_cost)
        self.method.currentIndexChanged.connect(self._method_changed)
        self.params.changed.connect(self._estimate_timer.start)
        self.layer.currentIndexChanged.connect(lambda _i: self._estimate_timer.start())
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        controller.attributionProgress.connect(self._on_progress)
        controller.attributionPreview.connect(lambda r: self.view.show_result(r, preview=True))
        controller.attributionReady.connect(self._on_ready)
        controller.attributionStopped.connect(self._on_stopped)
        state.modelChanged.connect(self._model_changed)
        state.mapsChanged.connect(self._estimate_timer.start)
        self._method_changed()

    # -- choices ---------------------------------------------------------------------------
    def current_method(self) -> attribution_api.MethodInfo | None:
        """The chosen method's description."""
        name = self.method.currentData()
        return next((m for m in self.methods if m.name == name), None)

    def select_method(self, name: str) -> bool:
        """Choose a method by registry name."""
        index = self.method.findData(name)
        if index >= 0:
            self.method.setCurrentIndex(index)
        return index >= 0

    def _method_changed(self) -> None:
        info = self.current_method()
        self.params.set_params(info.params if info else ())
        self.layer.setEnabled(bool(info and info.needs_layer))
        self.method.setToolTip(info.tooltip() if info else "")
        self._estimate_timer.start()

    def _model_changed(self) -> None:
        self.layer.clear()
        names = [la.name for la in self.state.layers if la.exposable]
        self.layer.addItems(names)
        default = attribution_api.default_layer(self.state.layers)
        if default is not None:
            self.layer.setCurrentText(default.name)
        self.progress.setValue(0)
        self.eta.setText("")

    def request(self) -> AttributionRequest:
        """The request the form describes (raises InputError on a bad field)."""
        info = self.current_method()
        if info is None:
            raise InputError("No attribution method is available.")
        layer = self.layer.currentText() if info.needs_layer and self.layer.currentText() \
            else None
        return AttributionRequest(method=info.name, target=self.target.target(), layer=layer,
                                  params=self.params.values())

    def update_cost(self) -> None:
        """Show the method's forward-pass estimate."""
        info = self.current_method()
        if info is None:
            self.cost.setText("")
            return
        try:
            request = self.request()
        except InputError as exc:
            self.cost.setText(exc.message)
            return
        layer = self.state.layer_info(request.layer) if request.layer else None
        try:
            passes = attribution_api.estimate_passes(info, request, self.state.prepared, layer)
        except EngineError as exc:
            self.cost.setText(exc.message)
            return
        self.cost.setText("Cost: unknown" if passes is None else
                          f"Cost: about {passes} forward pass{'es' if passes != 1 else ''}")

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
        self.run_button.setEnabled(attribution_api.AVAILABLE)
        self.cancel_button.setEnabled(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 100)
        self.eta.setText(text)

    def _on_ready(self, result: AttributionResult) -> None:
        self.progress.setValue(self.progress.maximum())
        self._finish(f"{result.method}: {result.forward_passes} forward passes in "
                     f"{result.seconds:.1f} s on {result.provider}")
        self.view.show_result(result)

    def _on_stopped(self, why: str) -> None:
        self.progress.setValue(0)
        self._finish(f"Attribution {why}.")
