"""Drift between two dataset scans: the channels that drift most, each with its top examples
from both scans side by side.

:class:`DriftView` computes :func:`engine.audit.drift.scan_drift` off the GUI thread,
lists the channels ranked by effect size (flagged ones marked), and for the selected
channel shows the receptive-field crops of its top examples in the reference scan (A)
and in the other scan (B).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.jobs import JobContext, JobRunner
from app.views.dataset_panel import _pixmap
from engine.audit.drift import DriftRow, scan_drift
from engine.errors import EngineError
from engine.scan.examples import example_crops, read_examples
from engine.scan.store import ScanStore

ROWS = 50
EXAMPLES = 6
THUMB = 96


def _examples(folder: Path, layer: str, channel: int) -> list[tuple[np.ndarray | None, float]]:
    store = ScanStore.open(folder)
    try:
        examples = read_examples(store, layer, channel)[:EXAMPLES]
        crops = example_crops(store, examples, layer, channel)
    finally:
        store.close()
    return [(crop, example.score) for crop, example in zip(crops, examples, strict=True)]


class DriftView(QWidget):
    """Channels ranked by drift between scan A (reference) and scan B, with examples."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scans: tuple[Path, Path] | None = None
        self.rows: list[DriftRow] = []
        self.summary = QLabel("Choose two scans.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["layer", "channel", "effect size", "q",
                                              "drifts"])
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selected)
        examples = QWidget()
        self.grid = QGridLayout(examples)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(examples)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)
        self.runner = JobRunner(parent=self)
        self.runner.finished.connect(self._finished)
        self.runner.failed.connect(self._failed)
        self.shown: tuple[str, int] | None = None

    def set_scans(self, reference: Path, current: Path) -> None:
        """Compare ``current`` with ``reference`` (off the GUI thread)."""
        self.scans = (reference, current)
        self.summary.setText(f"Comparing {current.name} with {reference.name}…")
        self.runner.submit("drift", lambda ctx: scan_drift(reference, current), "Drift")

    def _finished(self, job_id: int, kind: str, payload: object) -> None:
        del job_id
        if kind == "drift" and isinstance(payload, list):
            self.rows = payload
            flagged = sum(row.flagged for row in payload)
            self.summary.setText(f"{flagged} of {len(payload)} channels drift (q < 0.05 and "
                                 "effect size >= 0.25); the largest effects first.")
            self.table.setRowCount(min(ROWS, len(payload)))
            for r, row in enumerate(payload[:ROWS]):
                effect = f"{row.effect_size:.3f}" if math.isfinite(row.effect_size) else "∞"
                for c, text in enumerate((row.layer, str(row.channel), effect, f"{row.q:.3g}",
                                          "yes" if row.flagged else "")):
                    self.table.setItem(r, c, QTableWidgetItem(text))
            if payload:
                self.table.selectRow(0)
        elif kind == "examples" and isinstance(payload, tuple):
            self._show_examples(*payload)

    def _failed(self, job_id: int, kind: str, error: object) -> None:
        del job_id, kind
        message = error.message if isinstance(error, EngineError) else str(error)
        self.summary.setText(f"Drift could not be computed: {message}")

    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.scans is None:
            return
        row = self.rows[rows[0].row()]
        reference, current = self.scans

        def work(ctx: JobContext) -> tuple[str, int, object, object]:
            del ctx
            return (row.layer, row.channel, _examples(reference, row.layer, row.channel),
                    _examples(current, row.layer, row.channel))

        self.runner.submit("examples", work, "Top examples", supersede_running=True)

    def _show_examples(self, layer: str, channel: int, a: object, b: object) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()
        for row, (title, examples) in enumerate((("A (reference)", a), ("B", b))):
            self.grid.addWidget(QLabel(title), row, 0)
            assert isinstance(examples, list)
            for column, (crop, score) in enumerate(examples, start=1):
                label = QLabel(f"{score:.3g}")
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                if crop is not None:
                    label.setPixmap(_pixmap(crop).scaled(
                        THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))
                label.setToolTip(f"{layer} #{channel}: score {score:.4g}")
                self.grid.addWidget(label, row, column)
        self.shown = (layer, channel)

    def shutdown(self) -> None:
        """Stop the view's jobs."""
        self.runner.cancel()
        self.runner.shutdown()
