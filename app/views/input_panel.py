"""The input as the model sees it, the editable InputSpec and the top-k predictions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.state import AppState
from app.views.common import image_view, text_label
from engine.errors import InputError
from engine.input_spec import PRESET_DESCRIPTIONS, PRESETS, apply_preset, validate_spec
from engine.types import InputSpec


def _triple(text: str) -> tuple[float, float, float]:
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if len(parts) != 3:
        raise InputError("Mean and std need three numbers, e.g. 0.485, 0.456, 0.406.")
    try:
        a, b, c = (float(p) for p in parts)
    except ValueError as exc:
        raise InputError(f"'{text}' is not three numbers.") from exc
    return a, b, c


class SpecEditor(QWidget):
    """Form for an :class:`InputSpec`; emits ``specEdited`` shortly after each change."""

    specEdited = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: InputSpec | None = None
        self._loading = False
        self.preset = QComboBox(self)
        self.preset.addItems(list(PRESETS))
        for i, name in enumerate(PRESETS):
            self.preset.setItemData(i, PRESET_DESCRIPTIONS.get(name, ""),
                                    Qt.ItemDataRole.ToolTipRole)
        self.height_box, self.width_box = QSpinBox(self), QSpinBox(self)
        for box in (self.height_box, self.width_box):
            box.setRange(1, 8192)
        self.resize = QComboBox(self)
        self.resize.addItems(["stretch", "letterbox", "center_crop"])
        self.order = QComboBox(self)
        self.order.addItems(["RGB", "BGR"])
        self.scale = QComboBox(self)
        self.scale.addItems(["0..1", "0..255", "-1..1"])
        self.mean, self.std = QLineEdit(self), QLineEdit(self)
        self.layout_box = QComboBox(self)
        self.layout_box.addItems(["NCHW", "NHWC"])
        self.error = text_label("", self)
        self.error.setStyleSheet("color: #ff7070")
        self.error.setWordWrap(True)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        size = QHBoxLayout()
        size.addWidget(self.height_box)
        size.addWidget(QLabel("×", self))
        size.addWidget(self.width_box)
        form.addRow("Preset", self.preset)
        form.addRow("Size (H×W)", size)
        form.addRow("Resize", self.resize)
        form.addRow("Channels", self.order)
        form.addRow("Scale", self.scale)
        form.addRow("Mean", self.mean)
        form.addRow("Std", self.std)
        form.addRow("Layout", self.layout_box)
        form.addRow(self.error)
        self.preset.setToolTip("A named preprocessing convention; sets scale, mean, std, order")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._emit)
        self.preset.activated.connect(self._preset_chosen)
        for combo in (self.resize, self.order, self.scale, self.layout_box):
            combo.activated.connect(lambda _i: self._timer.start())
        for spin in (self.height_box, self.width_box):
            spin.editingFinished.connect(self._timer.start)
        for line in (self.mean, self.std):
            line.editingFinished.connect(self._timer.start)

    def set_spec(self, spec: InputSpec | None) -> None:
        """Show a spec without emitting."""
        self._spec = spec
        self.setEnabled(spec is not None)
        if spec is None:
            return
        self._loading = True
        self.preset.setCurrentText(spec.preset)
        self.height_box.setValue(spec.height)
        self.width_box.setValue(spec.width)
        self.resize.setCurrentText(spec.resize)
        self.order.setCurrentText(spec.channel_order)
        self.scale.setCurrentText(spec.scale)
        self.mean.setText(", ".join(f"{v:g}" for v in spec.mean))
        self.std.setText(", ".join(f"{v:g}" for v in spec.std))
        self.layout_box.setCurrentText(spec.layout)
        self.error.setText("")
        self._loading = False

    def _preset_chosen(self, _index: int) -> None:
        if self._spec is None:
            return
        self.set_spec(apply_preset(self.current_spec_or(self._spec), self.preset.currentText()))
        self._timer.start()

    def current_spec_or(self, fallback: InputSpec) -> InputSpec:
        """The spec in the form, or ``fallback`` if the form does not parse."""
        try:
            return self.current_spec()
        except InputError:
            return fallback

    def current_spec(self) -> InputSpec:
        """The spec in the form (validated by the engine)."""
        assert self._spec is not None
        spec = replace(self._spec, height=self.height_box.value(), width=self.width_box.value(),
                       resize=self.resize.currentText(),  # type: ignore[arg-type]
                       channel_order=self.order.currentText(),  # type: ignore[arg-type]
                       scale=self.scale.currentText(),  # type: ignore[arg-type]
                       mean=_triple(self.mean.text()), std=_triple(self.std.text()),
                       layout=self.layout_box.currentText(),  # type: ignore[arg-type]
                       preset=self.preset.currentText())
        return validate_spec(spec)

    def _emit(self) -> None:
        if self._loading or self._spec is None:
            return
        try:
            spec = self.current_spec()
        except InputError as exc:
            self.error.setText(exc.message)
            return
        self.error.setText("")
        if spec != self._spec:
            self._spec = spec
            self.specEdited.emit(spec)


class InputPanel(QWidget):
    """Preprocessed image, spec editor and top-k table."""

    specEdited = Signal(object)
    labelsRequested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.source = text_label("No input", self)
        self.source.setWordWrap(True)
        self.graphics, self.view = image_view(self)
        self.graphics.setMinimumHeight(160)
        self.graphics.setToolTip("The image exactly as the model sees it after preprocessing")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.editor = SpecEditor(self)
        self.topk = QTableWidget(0, 3, self)
        self.topk.setHorizontalHeaderLabels(["#", "Label", "Prob."])
        self.topk.verticalHeader().setVisible(False)
        self.topk.horizontalHeader().setStretchLastSection(False)
        self.topk.setColumnWidth(0, 50)
        self.topk.setColumnWidth(1, 190)
        self.topk.setToolTip("Top-5 classes of the first output (softmax shown when the output "
                             "holds logits)")
        self.labels_button = QPushButton("Labels file…", self)
        self.labels_button.setToolTip("Choose a text file with one class label per line")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.source)
        layout.addWidget(self.graphics, 2)
        layout.addWidget(self.editor)
        layout.addWidget(QLabel("Predictions", self))
        layout.addWidget(self.topk, 1)
        layout.addWidget(self.labels_button)
        self.editor.specEdited.connect(self.specEdited)
        self.labels_button.clicked.connect(self.labelsRequested)
        state.inputChanged.connect(self.refresh)
        state.predictionsChanged.connect(self.refresh_predictions)
        self.refresh()

    def refresh(self) -> None:
        """Show the prepared image and the spec."""
        self.editor.set_spec(self.state.spec)
        prepared = self.state.prepared
        path = self.state.image_path
        self.source.setText(f"Input: {path.name}" if path else "No input")
        if prepared is not None and prepared.display is not None:
            self.image.setImage(np.ascontiguousarray(prepared.display), levels=(0, 255),
                                autoLevels=False)
            self.view.autoRange(padding=0.01)
        else:
            self.image.clear()

    def refresh_predictions(self) -> None:
        """Fill the top-k table."""
        rows = self.state.predictions
        self.topk.setRowCount(len(rows))
        for r, p in enumerate(rows):
            for c, text in enumerate((str(p.index), p.label, f"{p.score:.3f}")):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.topk.setItem(r, c, item)
