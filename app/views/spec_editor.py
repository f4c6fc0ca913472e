"""The editable input spec, with the reason for each part the model proposed."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.views.common import plain_tooltip, text_label
from engine.errors import InputError
from engine.input_proposal import SpecProposal
from engine.input_spec import PRESET_DESCRIPTIONS, PRESETS, apply_preset, validate_spec
from engine.types import RESIZE_MODES, InputSpec

#: How the resize modes read in the form (the engine's names are kept as item data).
RESIZE_TEXT: dict[str, str] = {
    "stretch": "stretch",
    "letterbox": "letterbox",
    "center_crop": "center crop",
    "keep_aspect": "fixed height, keep aspect ratio",
}
RESIZE_TIPS: dict[str, str] = {
    "stretch": "Scale width and height separately to the size (shapes may be distorted)",
    "letterbox": "Scale to fit inside the size and pad the rest (YOLO detectors)",
    "center_crop": "Scale the short side to the size and cut the middle (ImageNet classifiers)",
    "keep_aspect": "Scale to the height and keep the aspect ratio; the width follows, padded "
                   "to at least the given width (text-line recognisers)",
}
GRAYSCALE = "Grayscale"


def _triple(text: str) -> tuple[float, float, float]:
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if len(parts) != 3:
        raise InputError("Mean and std need three numbers, e.g. 0.485, 0.456, 0.406.")
    try:
        a, b, c = (float(p) for p in parts)
    except ValueError as exc:
        raise InputError(f"'{text}' is not three numbers.") from exc
    return a, b, c


def _reason_label(parent: QWidget) -> QLabel:
    label = text_label("", parent)
    label.setWordWrap(True)
    label.setStyleSheet("color: #9a9a9a; font-size: 11px")
    label.hide()
    return label


class SpecEditor(QWidget):
    """Form for an :class:`InputSpec`; emits ``specEdited`` shortly after each change.

    Under the preset, size and resize fields a grey line says why the spec has
    that value (the model's proposal and its reason, or the user's choice).
    """

    specEdited = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: InputSpec | None = None
        self._proposal: SpecProposal | None = None
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
        for i, mode in enumerate(RESIZE_MODES):
            self.resize.addItem(RESIZE_TEXT.get(mode, mode), mode)
            self.resize.setItemData(i, RESIZE_TIPS.get(mode, ""), Qt.ItemDataRole.ToolTipRole)
        self.order = QComboBox(self)
        self.scale = QComboBox(self)
        self.scale.addItems(["0..1", "0..255", "-1..1"])
        self.mean, self.std = QLineEdit(self), QLineEdit(self)
        self.layout_box = QComboBox(self)
        self.layout_box.addItems(["NCHW", "NHWC"])
        self.reasons: dict[str, QLabel] = {part: _reason_label(self) for part in
                                           ("preset", "size", "resize", "channels", "layout",
                                            "input")}
        self.error = text_label("", self)
        self.error.setStyleSheet("color: #ff7070")
        self.error.setWordWrap(True)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        size = QHBoxLayout()
        size.addWidget(self.height_box)
        size.addWidget(QLabel("×", self))
        size.addWidget(self.width_box)
        form.addRow(self.reasons["input"])
        form.addRow("Preset", self._with_reason(self.preset, "preset"))
        form.addRow("Size (H×W)", self._with_reason(size, "size"))
        form.addRow("Resize", self._with_reason(self.resize, "resize"))
        form.addRow("Channels", self._with_reason(self.order, "channels"))
        form.addRow("Scale", self.scale)
        form.addRow("Mean", self.mean)
        form.addRow("Std", self.std)
        form.addRow("Layout", self._with_reason(self.layout_box, "layout"))
        form.addRow(self.error)
        self.preset.setToolTip(plain_tooltip(
            "A named preprocessing convention; sets scale, mean, std, order"))
        self.resize.setToolTip(plain_tooltip("How the image is brought to the model's size"))
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

    def _with_reason(self, field: QWidget | QHBoxLayout, part: str) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(0)
        if isinstance(field, QHBoxLayout):
            column.addLayout(field)
        else:
            column.addWidget(field)
        column.addWidget(self.reasons[part])
        return column

    def set_spec(self, spec: InputSpec | None, proposal: SpecProposal | None = None,
                 reasons: dict[str, str] | None = None) -> None:
        """Show a spec (and why it has each part) without emitting."""
        self._spec = spec
        self._proposal = proposal
        self.setEnabled(spec is not None)
        self.show_reasons(reasons or {})
        if spec is None:
            return
        self._loading = True
        self.preset.setCurrentText(spec.preset)
        self.height_box.setValue(spec.height)
        self.width_box.setValue(spec.width)
        index = self.resize.findData(spec.resize)
        self.resize.setCurrentIndex(max(0, index))
        self.order.clear()
        if spec.channels == 1:
            self.order.addItem(GRAYSCALE, spec.channel_order)
            self.order.setToolTip(plain_tooltip(
                "The model takes one channel: the image is converted to "
                "grayscale"))
        else:
            for order in ("RGB", "BGR"):
                self.order.addItem(order, order)
            self.order.setCurrentIndex(max(0, self.order.findData(spec.channel_order)))
            self.order.setToolTip(plain_tooltip(
                "The order of the colour channels the model expects"))
        self.scale.setCurrentText(spec.scale)
        self.mean.setText(", ".join(f"{v:g}" for v in spec.mean))
        self.std.setText(", ".join(f"{v:g}" for v in spec.std))
        self.layout_box.setCurrentText(spec.layout)
        self.error.setText("")
        self._loading = False

    def show_reasons(self, reasons: dict[str, str]) -> None:
        """Show each part's reason under its field (a part without one shows nothing)."""
        for part, label in self.reasons.items():
            text = reasons.get(part, "")
            label.setText(text)
            label.setToolTip(plain_tooltip(text))
            label.setVisible(bool(text))

    def _preset_chosen(self, _index: int) -> None:
        if self._spec is None:
            return
        name = self.preset.currentText()
        spec = apply_preset(self.current_spec_or(self._spec), name)
        proposal = self._proposal
        if proposal is not None and name == proposal.spec.preset and \
                any(part == "size" for part, _ in proposal.reasons):
            # the model says its size for this convention (e.g. Ultralytics imgsz)
            spec = replace(spec, height=proposal.spec.height, width=proposal.spec.width)
        shown = dict(self._shown_reasons())
        self.set_spec(spec, proposal)
        self.show_reasons(shown)
        self._timer.start()

    def _shown_reasons(self) -> dict[str, str]:
        return {part: label.text() for part, label in self.reasons.items() if label.text()}

    def current_spec_or(self, fallback: InputSpec) -> InputSpec:
        """The spec in the form, or ``fallback`` if the form does not parse."""
        try:
            return self.current_spec()
        except InputError:
            return fallback

    def current_spec(self) -> InputSpec:
        """The spec in the form (validated by the engine)."""
        assert self._spec is not None
        order = self.order.currentData() or self._spec.channel_order
        spec = replace(self._spec, height=self.height_box.value(), width=self.width_box.value(),
                       resize=self.resize.currentData() or self._spec.resize,
                       channel_order=order, scale=self.scale.currentText(),  # type: ignore[arg-type]
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
