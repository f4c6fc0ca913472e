"""The input panel: the input as the model sees it with its predictions, the spec, the list."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from app.state import AppState
from app.views.common import plain_tooltip, text_label
from app.views.input_view import InputView
from app.views.predictions_view import PredictionsView
from app.views.spec_editor import SpecEditor


class InputPanel(QWidget):
    """Prepared image with predictions drawn, spec editor with reasons, predictions list.

    ``reasons`` is asked for why each part of the spec was chosen (the controller knows
    the model's proposal and whether the spec was remembered).
    """

    specEdited = Signal(object)
    labelsRequested = Signal()

    def __init__(self, state: AppState, reasons: Callable[[], dict[str, str]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._reasons = reasons or (lambda: {})
        self.source = text_label("No input", self)
        self.source.setWordWrap(True)
        self.view = InputView(state, self)
        self.view.graphics.setToolTip(plain_tooltip("The image exactly as the model sees it after "
                                      "preprocessing, with what it predicts; click a box, a "
                                      "character or a point of a map to explain it"))
        self.editor = SpecEditor(self)
        self.predictions = PredictionsView(state, self)
        self.labels_button = QPushButton("Labels file…", self)
        self.labels_button.setToolTip(plain_tooltip(
            "Choose a text file with one class label per line"))
        self.view.setMinimumHeight(240)
        self.predictions.setMinimumHeight(140)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.source)
        layout.addWidget(self.view, 3)
        layout.addWidget(self.editor)
        layout.addWidget(QLabel("Predictions", self))
        layout.addWidget(self.predictions, 2)
        layout.addWidget(self.labels_button)
        self.editor.specEdited.connect(self.specEdited)
        self.labels_button.clicked.connect(self.labelsRequested)
        state.inputChanged.connect(self.refresh)
        state.modelChanged.connect(self.refresh)
        self.refresh()

    @property
    def graphics(self) -> object:
        """The input's graphics widget."""
        return self.view.graphics

    def refresh(self) -> None:
        """Show the input's name and the spec with its reasons."""
        self.editor.set_spec(self.state.spec, self.state.proposal, self._reasons())
        path = self.state.image_path
        self.source.setText(f"Input: {path.name}" if path else "No input")
