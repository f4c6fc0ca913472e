"""Menus, shortcuts, file dialogs, recent files and exports of the main window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from app import export
from app.paths import SESSION_SUFFIX
from engine.errors import EngineError

if TYPE_CHECKING:
    from app.main_window import MainWindow

MODEL_FILTER = "ONNX models (*.onnx);;All files (*)"
IMAGE_FILTER = ("Images and tensors (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.npy *.wav);;"
                "All files (*)")
SESSION_FILTER = f"Featurescope sessions (*{SESSION_SUFFIX});;All files (*)"


class Actions:
    """Build the menu bar and hold the window's actions."""

    def __init__(self, window: MainWindow) -> None:
        self.w = window
        bar = window.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_model = self._add(file_menu, "Open &model…", QKeySequence.StandardKey.Open,
                                    self.choose_model, "Open an .onnx model")
        self.open_image = self._add(file_menu, "Open &input…", "Ctrl+I", self.choose_image,
                                    "Open an image, a .npy tensor or a .wav file as input")
        self.close_model = self._add(file_menu, "&Close model", QKeySequence.StandardKey.Close,
                                     window.close_model, "Close the model and free its memory")
        self.recent_models = file_menu.addMenu("Recent models")
        self.recent_images = file_menu.addMenu("Recent inputs")
        file_menu.addSeparator()
        self._add(file_menu, "Open &session…", "Ctrl+Shift+O", self.choose_session,
                  "Reopen a saved model, input, spec and settings")
        self._add(file_menu, "&Save session…", QKeySequence.StandardKey.Save, self.save_session,
                  "Save model, input, spec and display settings to a session file")
        self._add(file_menu, "Labels file…", None, self.choose_labels,
                  "Use a text file with one class label per line")
        file_menu.addSeparator()
        export_menu = file_menu.addMenu("&Export")
        self._add(export_menu, "Window as PNG…", "Ctrl+E",
                  lambda: self._export("PNG image (*.png)", ".png",
                                       lambda p: export.export_view_png(self.w, p)),
                  "Save a PNG of the whole window")
        self._add(export_menu, "Mosaic as PNG…", None,
                  lambda: self._export("PNG image (*.png)", ".png",
                                       lambda p: export.export_view_png(self.w.mosaic.graphics,
                                                                        p)),
                  "Save a PNG of the channel mosaic as shown")
        self._add(export_menu, "Channel as .npy…", None,
                  lambda: self._export("NumPy array (*.npy)", ".npy",
                                       lambda p: export.export_channel_npy(self.w.state, p)),
                  "Save the selected channel's raw values")
        self._add(export_menu, "Layer as .npy…", None,
                  lambda: self._export("NumPy array (*.npy)", ".npy",
                                       lambda p: export.export_channel_npy(self.w.state, p, True)),
                  "Save every channel of the selected layer")
        self._add(export_menu, "Heatmap as .npy…", None,
                  lambda: self._export("NumPy array (*.npy)", ".npy",
                                       lambda p: export.export_heatmap_npy(
                                           self.w.attribution.view.shown, p)),
                  "Save the shown attribution heatmap's raw values")
        self._add(export_menu, "Statistics as CSV…", None,
                  lambda: self._export("CSV (*.csv)", ".csv",
                                       lambda p: export.export_stats_csv(self.w.state, p)),
                  "Save per-channel statistics of every layer")
        file_menu.addSeparator()
        self._add(file_menu, "&Quit", QKeySequence.StandardKey.Quit, window.close, "")

        view = bar.addMenu("&View")
        self._add(view, "Next layer", "Ctrl+Down", lambda: self.step_layer(1),
                  "Show the next conv layer")
        self._add(view, "Previous layer", "Ctrl+Up", lambda: self.step_layer(-1),
                  "Show the previous conv layer")
        self._add(view, "Next channel", "Alt+Right", lambda: self.step_channel(1),
                  "Open the next channel")
        self._add(view, "Previous channel", "Alt+Left", lambda: self.step_channel(-1),
                  "Open the previous channel")
        view.addSeparator()
        for dock in (window.layers_dock, window.model_dock, window.input_dock,
                     window.channel_dock, window.attribution_dock):
            view.addAction(dock.toggleViewAction())

        run = bar.addMenu("&Attribution")
        self.run = self._add(run, "&Run", "Ctrl+R", self.run_attribution,
                             "Run the chosen attribution method")
        self.cancel = self._add(run, "&Cancel", "Escape", window.attribution.cancel,
                                "Cancel the running attribution")
        help_menu = bar.addMenu("&Help")
        self._add(help_menu, "About Featurescope", None, self.about, "")
        window.state.modelChanged.connect(self.refresh_recent)
        self.refresh_recent()

    def _add(self, menu: QMenu, text: str, shortcut: object, slot: Callable[[], object],
             tip: str) -> QAction:
        action = QAction(text, self.w)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))  # type: ignore[call-overload]
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    # -- files ---------------------------------------------------------------------------------
    def choose_model(self) -> None:
        """Ask for a model file and open it."""
        path, _ = QFileDialog.getOpenFileName(self.w, "Open model",
                                              self.w.settings.folder("models"), MODEL_FILTER)
        if path:
            self.w.controller.open_model(path)

    def choose_image(self) -> None:
        """Ask for an input file and run the model on it."""
        path, _ = QFileDialog.getOpenFileName(self.w, "Open input",
                                              self.w.settings.folder("images"), IMAGE_FILTER)
        if path:
            self.w.open_paths([Path(path)])

    def choose_session(self) -> None:
        """Ask for a session file and reopen it."""
        path, _ = QFileDialog.getOpenFileName(self.w, "Open session",
                                              self.w.settings.folder("sessions"), SESSION_FILTER)
        if path:
            self.w.open_session(Path(path))

    def choose_labels(self) -> None:
        """Ask for a labels file."""
        path, _ = QFileDialog.getOpenFileName(self.w, "Labels file", "", "Text (*.txt);;All (*)")
        if path:
            self.w.controller.set_labels(Path(path))

    def save_session(self, path: Path | None = None) -> bool:
        """Write a session file (asks where when ``path`` is None)."""
        if path is None:
            name, _ = QFileDialog.getSaveFileName(self.w, "Save session",
                                                  self.w.settings.folder("sessions"),
                                                  SESSION_FILTER)
            if not name:
                return False
            path = Path(name) if Path(name).suffix else Path(name + SESSION_SUFFIX)
        try:
            export.save_session(self.w.state, path, self.w.session_attribution())
        except EngineError as exc:
            self.w.notifier.error(exc, "Save session")
            return False
        self.w.settings.add_recent("sessions", path)
        self.w.notifier.notify("info", f"Session saved to {path.name}.")
        return True

    def _export(self, filter_text: str, suffix: str, write: Callable[[Path], None]) -> None:
        name, _ = QFileDialog.getSaveFileName(self.w, "Export", self.w.settings.folder("export"),
                                              filter_text)
        if not name:
            return
        path = Path(name) if Path(name).suffix else Path(name + suffix)
        try:
            write(path)
        except EngineError as exc:
            self.w.notifier.error(exc, "Export")
            return
        self.w.settings.set_folder("export", path.parent)
        self.w.notifier.notify("info", f"Exported {path.name}.")

    def refresh_recent(self) -> None:
        """Rebuild the recent-files menus."""
        for menu, kind in ((self.recent_models, "models"), (self.recent_images, "images")):
            menu.clear()
            for path in self.w.settings.recent(kind):
                action = menu.addAction(str(path).replace("&", "&&"))  # not a mnemonic
                action.triggered.connect(lambda _c=False, p=path: self.w.open_paths([p]))
            menu.setEnabled(bool(menu.actions()))

    # -- navigation -----------------------------------------------------------------------------
    def step_layer(self, step: int) -> None:
        """Move to the next/previous shown layer."""
        names = [m.layer.name for m in self.w.state.maps.layers] if self.w.state.maps else []
        if not names:
            return
        current = names.index(self.w.state.layer_name) if self.w.state.layer_name in names else 0
        self.w.state.select_layer(names[max(0, min(len(names) - 1, current + step))])

    def step_channel(self, step: int) -> None:
        """Open the next/previous channel of the layer."""
        maps = self.w.state.current_maps()
        if maps is None:
            return
        current = self.w.state.channel if self.w.state.channel is not None else -step
        self.w.state.select_channel(max(0, min(maps.data.shape[0] - 1, current + step)))

    def run_attribution(self) -> None:
        """Show the attribution panel and run."""
        self.w.raise_dock(self.w.attribution_dock)
        self.w.attribution.run()

    def about(self) -> None:
        """A short about box."""
        from engine import __version__

        QMessageBox.about(self.w, "Featurescope",
                          f"Featurescope {__version__}\nFeature maps and attributions of ONNX "
                          "convolutional networks.")
