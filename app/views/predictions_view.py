"""What the model predicts on the input: its recognised head and the predictions, best first.

Replaces the classifier-only top-5 table: a detector lists its boxes, a map head
its regions, a CTC recogniser the line it read and its characters, a classifier
its top-5 classes. Choosing a row makes that prediction the attribution target.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.state import AppState
from app.views.common import plain_tooltip, text_label
from engine.heads import PredictionItem

MAX_ROWS = 200
HEAD_WORDS = {"classifier": "Classifier", "dense-detection": "Detector",
              "detection": "Detector (boxes after NMS)", "map": "Map output",
              "ctc": "Text recogniser (CTC)", "argmax": "Integer output (read before ArgMax)",
              "unknown": "Unrecognised head"}


def where_text(item: PredictionItem) -> str:
    """``box 173,83–274,180`` or ``at 12,40`` in original image pixels (empty if neither)."""
    if item.text is not None:
        return f"“{item.text}”"
    if item.box is not None:
        x0, y0, x1, y1 = (round(v) for v in item.box)
        return f"box {x0},{y0}–{x1},{y1}"
    if item.point is not None:
        return "at " + ",".join(str(round(v)) for v in item.point)
    return ""


class PredictionsView(QWidget):
    """The head in one line, then one row per prediction; a row click chooses the target."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._filling = False
        self.head = text_label("No predictions yet", self)
        self.head.setWordWrap(True)
        self.table = QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels(["#", "Prediction", "Score", "Where (image px)"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip(plain_tooltip(
            "What the model predicts on this input, best first; choose a row "
            "to explain it"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.head)
        layout.addWidget(self.table, 1)
        self.table.itemSelectionChanged.connect(self._row_chosen)
        state.predictionsChanged.connect(self.refresh)
        state.targetChanged.connect(self._show_target)

    def refresh(self) -> None:
        """Fill the table from the state's predictions."""
        predicted = self.state.predicted
        self._filling = True
        self.table.setRowCount(0)
        if predicted is None:
            self.head.setText(self.state.prediction_error or "No predictions yet")
            self.head.setToolTip("")
            self._filling = False
            return
        words = HEAD_WORDS.get(predicted.head.kind, predicted.head.kind)
        count = len(predicted.items)
        self.head.setText(f"{words}: {count} prediction{'s' if count != 1 else ''}" if count
                          else f"{words}: nothing predicted on this input")
        self.head.setToolTip(plain_tooltip(predicted.head.reason))
        rows = predicted.items[:MAX_ROWS]
        self.table.setRowCount(len(rows))
        for r, item in enumerate(rows):
            for c, text in enumerate((str(r), item.label, f"{item.score:.3f}",
                                      where_text(item))):
                cell = QTableWidgetItem(text)
                cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(r, c, cell)
        self.table.resizeColumnsToContents()
        self._filling = False
        self._show_target()

    def _row_chosen(self) -> None:
        if self._filling:
            return
        rows = self.table.selectionModel().selectedRows()
        items = self.state.predictions
        if rows and rows[0].row() < len(items):
            self.state.choose_target(items[rows[0].row()].target)

    def _show_target(self) -> None:
        chosen = self.state.prediction()
        items = self.state.predictions
        row = next((i for i, item in enumerate(items) if item is chosen), -1)
        self._filling = True
        if 0 <= row < self.table.rowCount():
            self.table.selectRow(row)
        else:
            self.table.clearSelection()
        self._filling = False
