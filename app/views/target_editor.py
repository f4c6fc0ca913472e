"""What an attribution explains: one of the model's predictions, a class, an element, a region.

The default is the top prediction. The form never asks for command-line syntax:
predictions are chosen from a list ("0: FACE_FEMALE 0.81"), classes from a
searchable list, a region with four cell numbers (or by dragging over the input
view). The state's target (engine target text, set by clicks in the input view)
and this form follow each other.
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.state import AppState
from app.views.common import plain_tooltip
from engine.attribution.target_text import parse_target, target_text
from engine.attribution.types import Target
from engine.errors import InputError
from engine.heads import PredictionItem

TARGET_KINDS = (("prediction", "A prediction"), ("class", "A class"),
                ("element", "An output element"), ("region", "A region of a map output"))
CELL_LIMIT = 100_000


def prediction_text(rank: int, item: PredictionItem) -> str:
    """``0: FACE_FEMALE 0.81`` (a CTC line: ``0: “text” 0.93``)."""
    label = f"“{item.text}”" if item.text else item.label
    return f"{rank}: {label} {item.score:.2f}"


def target_words(target: Target, item: PredictionItem | None, label: str = "") -> str:
    """What is explained, in words: ``'Egyptian cat'``, ``the region rows 2–5, ...``."""
    if item is not None:
        return f"“{item.text}”" if item.text else f"'{item.label}'"
    where = f" of {target.output}" if target.output else ""
    if target.kind in ("top1", "class"):
        return f"'{label}'" if label else f"the top class{where}"
    if target.kind == "region" and target.box is not None:
        y0, x0, y1, x1 = target.box
        return (f"the region rows {y0}–{y1 - 1}, columns {x0}–{x1 - 1} of channel "
                f"{target.index}{where}")
    if target.kind == "sequence":
        return f"a {len(target.coords)}-step reading{where}"
    return f"element {','.join(map(str, target.coords)) or target.index}{where}"


def _spin(parent: QWidget, tip: str, low: int = 0) -> QSpinBox:
    box = QSpinBox(parent)
    box.setRange(low, CELL_LIMIT)
    box.setToolTip(tip)
    return box


class TargetEditor(QWidget):
    """Choose the target; ``changed`` fires on every change of what would be explained."""

    changed = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._syncing = False
        self.kind = QComboBox(self)
        for key, text in TARGET_KINDS:
            self.kind.addItem(text, key)
        self.kind.setToolTip(plain_tooltip("What the attribution explains"))
        self.output = QComboBox(self)
        self.output.setToolTip(plain_tooltip("Which model output holds the score"))
        self.stack = QStackedWidget(self)
        self.prediction = QComboBox(self)
        self.prediction.setToolTip(plain_tooltip(
            "One of the model's predictions on this input (best first); "
            "clicking a box, a character or a map in the input view "
            "chooses one too"))
        self.stack.addWidget(self.prediction)
        self.class_box = QComboBox(self)
        self.class_box.setEditable(True)
        self.class_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.class_box.setToolTip(plain_tooltip("Type to search the labels"))
        # one completer for the widget's life (a new one per model would pile up)
        self._classes = QStringListModel(self)
        self._completer = QCompleter(self._classes, self)
        self._completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.class_box.setCompleter(self._completer)
        self.stack.addWidget(self.class_box)
        self.element = _spin(self, "Position in the output, counted after the batch axis")
        self.element.setRange(0, 2**31 - 1)
        self.stack.addWidget(self.element)
        region = QWidget(self)
        grid = QGridLayout(region)
        grid.setContentsMargins(0, 0, 0, 0)
        self.region_channel = _spin(region, "The output channel whose mean is explained")
        self.top = _spin(region, "First row of the region, in output cells")
        self.left = _spin(region, "First column of the region, in output cells")
        self.bottom = _spin(region, "Last row of the region, in output cells", 1)
        self.right = _spin(region, "Last column of the region, in output cells", 1)
        self.bottom.setValue(8)
        self.right.setValue(8)
        for col, (text, box) in enumerate((("Channel", self.region_channel), ("Rows", self.top),
                                           ("to", self.bottom))):
            grid.addWidget(QLabel(text, region), 0, 2 * col)
            grid.addWidget(box, 0, 2 * col + 1)
        for col, (text, box) in enumerate((("Columns", self.left), ("to", self.right))):
            grid.addWidget(QLabel(text, region), 1, 2 * col + 2)
            grid.addWidget(box, 1, 2 * col + 3)
        grid.addWidget(QLabel("or drag over the input", region), 1, 0, 1, 2)
        self.stack.addWidget(region)
        row = QHBoxLayout()
        row.addWidget(self.kind)
        row.addWidget(self.output, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.stack)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.prediction.currentIndexChanged.connect(self._prediction_chosen)
        self.class_box.currentTextChanged.connect(lambda _t: self._edited())
        self.output.currentIndexChanged.connect(lambda _i: self._edited())
        self.element.valueChanged.connect(lambda _v: self._edited())
        for box in (self.region_channel, self.top, self.left, self.bottom, self.right):
            box.valueChanged.connect(lambda _v: self._region_edited())
        state.modelChanged.connect(self.refresh)
        state.labelsChanged.connect(self.refresh)
        state.predictionsChanged.connect(self.refresh_predictions)
        state.targetChanged.connect(self.show_state_target)
        self._kind_changed()

    # -- filling ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Fill outputs and the class list from the model and its labels."""
        self._syncing = True
        self.output.clear()
        model = self.state.model
        if model is not None:
            self.output.addItems([t.name for t in model.info.outputs])
        self.class_box.clear()
        count = len(self.state.labels) or 1000
        items = [f"{i}: {self.state.label(i)}" for i in range(count)]
        self.class_box.addItems(items)
        self._classes.setStringList(items)
        self._syncing = False
        self.refresh_predictions()

    def refresh_predictions(self) -> None:
        """List the model's predictions on the input (the top one chosen)."""
        self._syncing = True
        self.prediction.clear()
        items = self.state.predictions
        for rank, item in enumerate(items):
            self.prediction.addItem(prediction_text(rank, item), item.target)
        if not items:
            self.prediction.addItem("the top class of the first output", None)
        self.kind.setCurrentIndex(0)
        self._syncing = False
        self.show_state_target()

    def show_state_target(self) -> None:
        """Show the state's target (chosen in the input view or the predictions list)."""
        wanted = self.state.target
        self._syncing = True
        try:
            index = self.prediction.findData(wanted) if wanted is not None else 0
            if index >= 0:
                self.prediction.setCurrentIndex(index)
                self.kind.setCurrentIndex(0)
            elif wanted is not None:
                self._show_parsed(wanted)
        finally:
            self._syncing = False
        self.changed.emit()

    def _show_parsed(self, text: str) -> None:
        try:
            target = parse_target(text)
        except InputError:
            return
        if target.output:
            self.output.setCurrentText(target.output)
        if target.kind == "region" and target.box is not None:
            self.kind.setCurrentIndex(3)
            self.region_channel.setValue(target.index)
            y0, x0, y1, x1 = target.box
            self.top.setValue(y0)
            self.left.setValue(x0)
            self.bottom.setValue(y1 - 1)
            self.right.setValue(x1 - 1)
        elif target.kind == "class":
            self.kind.setCurrentIndex(1)
            self.class_box.setCurrentIndex(target.index)

    # -- edits -------------------------------------------------------------------------------
    def _kind_changed(self) -> None:
        self.stack.setCurrentIndex(self.kind.currentIndex())
        for i in range(self.stack.count()):  # the stack takes the height of the page shown
            policy = QSizePolicy.Policy.Preferred if i == self.stack.currentIndex() else \
                QSizePolicy.Policy.Ignored
            self.stack.widget(i).setSizePolicy(QSizePolicy.Policy.Preferred, policy)
        self.stack.adjustSize()
        self.output.setVisible(self.kind.currentData() != "prediction")
        self._edited()

    def _prediction_chosen(self) -> None:
        if not self._syncing:
            self.state.choose_target(self.prediction.currentData())
        self._edited()

    def _region_edited(self) -> None:
        if self._syncing:
            return
        with contextlib.suppress(InputError):
            self.state.choose_target(target_text(self.target()))
        self._edited()

    def _edited(self) -> None:
        if not self._syncing:
            self.changed.emit()

    # -- reading -------------------------------------------------------------------------------
    def chosen_item(self) -> PredictionItem | None:
        """The prediction explained, when the target is one."""
        if self.kind.currentData() != "prediction":
            return None
        return self.state.prediction(self.prediction.currentData() or "") \
            if self.prediction.currentData() else None

    def target(self) -> Target:
        """The target in the form.

        Raises
        ------
        InputError
            A class or region that does not parse.
        """
        kind = self.kind.currentData()
        output = self.output.currentText() or None
        if kind == "prediction":
            text = self.prediction.currentData()
            return parse_target(text) if isinstance(text, str) else Target()
        if kind == "class":
            head = self.class_box.currentText().split(":", 1)[0].strip()
            try:
                return Target(kind="class", index=int(head), output=output)
            except ValueError as exc:
                raise InputError("Choose a class from the list (e.g. '285: Egyptian cat').") \
                    from exc
        if kind == "element":
            return Target(kind="element", index=self.element.value(), output=output)
        y0, x0 = self.top.value(), self.left.value()
        y1, x1 = self.bottom.value() + 1, self.right.value() + 1
        if y1 <= y0 or x1 <= x0:
            raise InputError("The region's last row and column must not come before its "
                             "first ones.")
        return Target(kind="region", index=self.region_channel.value(), box=(y0, x0, y1, x1),
                      output=output)

    def words(self) -> str:
        """What the form explains, in words (for the result line)."""
        try:
            target = self.target()
        except InputError:
            return "the target"
        label = ""
        if target.kind == "class":
            label = self.state.label(target.index)
        return target_words(target, self.chosen_item(), label)
