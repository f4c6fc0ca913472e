"""The window's dataset and comparison tools: the Dataset dock and File > Compare with....

:class:`AnalysisTools` attaches both to the main window (:class:`AnalysisHost`):
the Dataset panel follows the open model and the selected channel (its top-k
examples), opens an example as the input when clicked; Compare with... asks for
a model B and opens a :class:`~app.compare_window.CompareWindow` on the current
model and input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMenu, QMenuBar

from app.audit_export import AuditExport
from app.compare_window import CompareWindow
from app.notify import Notifier
from app.settings import Settings
from app.state import AppState
from app.views.dataset_panel import DatasetPanel
from app.views.drift_view import DriftView


class _Menus(Protocol):
    view_menu: QMenu


class AnalysisHost(Protocol):
    """What the tools need of the main window (it has all of it)."""

    notifier: Notifier
    settings: Settings
    state: AppState
    input_dock: QDockWidget
    attribution_dock: QDockWidget
    actions_: _Menus

    def open_paths(self, paths: list[Path]) -> None: ...

    def menuBar(self) -> QMenuBar: ...

    def addDockWidget(self, area: Qt.DockWidgetArea, dock: QDockWidget) -> None: ...

    def tabifyDockWidget(self, first: QDockWidget, second: QDockWidget) -> None: ...

MODEL_FILTER = "ONNX models (*.onnx);;All files (*)"


class AnalysisTools:
    """The Dataset dock and the Compare with... action of one window."""

    def __init__(self, window: AnalysisHost) -> None:
        self.window = window
        self.panel = DatasetPanel(window.notifier)
        parent = window if isinstance(window, QMainWindow) else None
        self.dock = QDockWidget("Dataset", parent)
        self.dock.setObjectName("dock_dataset")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        window.tabifyDockWidget(window.attribution_dock, self.dock)
        window.input_dock.raise_()  # the input stays in front, as the window built it
        self.compare_windows: list[CompareWindow] = []
        self.compare_action = QAction("Compare with…", parent)
        self.compare_action.setToolTip("Open a second model (a new version, an fp16 or int8 "
                                       "build) and compare it layer by layer with this one")
        self.compare_action.triggered.connect(self.choose_model_b)
        self.audit = AuditExport(window.notifier)
        self.audit_action = QAction("Export audit report…", parent)
        self.audit_action.setToolTip("Audit the model on the current input: predictions, maps "
                                     "with deletion/insertion curves, the sanity check and "
                                     "provenance, as HTML, PDF and JSON")
        self.audit_action.triggered.connect(self.choose_audit_folder)
        self.drift_windows: list[QMainWindow] = []
        self.drift_action = QAction("Drift between scans…", parent)
        self.drift_action.setToolTip("Choose a reference scan and another scan: the channels "
                                     "whose activations drift most, with their top examples "
                                     "from both")
        self.drift_action.triggered.connect(self.choose_scans)
        file_menu = window.menuBar().actions()[0].menu()
        if file_menu is not None:
            file_menu.insertAction(file_menu.actions()[3], self.compare_action)
            file_menu.insertAction(file_menu.actions()[4], self.audit_action)
            file_menu.insertAction(file_menu.actions()[5], self.drift_action)
        window.actions_.view_menu.addAction(self.dock.toggleViewAction())
        state = window.state
        state.modelChanged.connect(self._model_changed)
        state.channelChanged.connect(self._channel_changed)
        state.inputChanged.connect(self._update_action)
        self.panel.openImage.connect(lambda path: window.open_paths([Path(path)]))
        self._model_changed()

    def _model_changed(self) -> None:
        model = self.window.state.model
        self.panel.set_model(model.info.path if model is not None else None)
        self._update_action()

    def _channel_changed(self, channel: int) -> None:
        layer = self.window.state.layer_name
        if layer is not None and channel is not None and channel >= 0:
            self.panel.show_channel(layer, channel)

    def _update_action(self) -> None:
        state = self.window.state
        ready = state.model is not None and state.prepared is not None
        self.compare_action.setEnabled(ready)
        self.audit_action.setEnabled(ready and state.image_path is not None)

    def choose_model_b(self) -> CompareWindow | None:
        """Ask for model B and open the comparison window."""
        parent = self.window if isinstance(self.window, QMainWindow) else None
        path, _ = QFileDialog.getOpenFileName(parent, "Compare with model",
                                              self.window.settings.folder("models"),
                                              MODEL_FILTER)
        return self.open_comparison(Path(path)) if path else None

    def open_comparison(self, path_b: Path) -> CompareWindow | None:
        """Compare the current model and input with the model at ``path_b``."""
        state = self.window.state
        if state.model is None or state.prepared is None:
            return None
        window = CompareWindow(state.model, state.prepared, path_b)
        window.show()
        self.compare_windows.append(window)
        return window

    def choose_audit_folder(self) -> None:
        """Ask for the report's folder and start the audit."""
        parent = self.window if isinstance(self.window, QMainWindow) else None
        folder = QFileDialog.getExistingDirectory(parent, "Export audit report into",
                                                  self.window.settings.folder("exports"))
        if folder:
            self.export_audit(Path(folder) / "audit_report")

    def export_audit(self, folder: Path) -> int | None:
        """Audit the current model on the current input into ``folder``."""
        state = self.window.state
        if state.model is None or state.image_path is None:
            return None
        return self.audit.start(state.model, state.image_path, folder)

    def choose_scans(self) -> None:
        """Ask for the reference scan and the other scan, then show their drift."""
        parent = self.window if isinstance(self.window, QMainWindow) else None
        start = self.window.settings.folder("scans")
        reference = QFileDialog.getExistingDirectory(parent, "Reference scan (A)", start)
        if reference:
            current = QFileDialog.getExistingDirectory(parent, "Scan to compare (B)", reference)
            if current:
                self.open_drift(Path(reference), Path(current))

    def open_drift(self, reference: Path, current: Path) -> DriftView:
        """A window with the drift of scan ``current`` against scan ``reference``."""
        window = QMainWindow()
        window.setWindowTitle(f"Drift: {current.name} against {reference.name}")
        view = DriftView(window)
        window.setCentralWidget(view)
        window.resize(1000, 760)
        window.show()
        view.set_scans(reference, current)
        self.drift_windows.append(window)
        return view

    def shutdown(self) -> None:
        """Stop the panel's, the comparisons', the drift views' and the audit's jobs."""
        for window in self.drift_windows:
            view = window.centralWidget()
            if isinstance(view, DriftView):
                view.shutdown()
            window.close()
        self.drift_windows.clear()
        self.audit.shutdown()
        self.panel.shutdown()
        for window in self.compare_windows:
            window.close()
        self.compare_windows.clear()
