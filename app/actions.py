"""Menus, shortcuts, file dialogs, recent files and exports of the main window.

:class:`Actions` works on the controller, the state, the settings and the notifier it
is given, and on the window only through the few operations of :class:`WindowOps`,
so this module does not import the window.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QWidget

from app import export
from app.controller import Controller
from app.notify import Notifier
from app.paths import MODEL_SUFFIXES, SESSION_SUFFIX
from app.settings import Settings
from app.state import AppState
from engine.attribution.types import AttributionResult
from engine.errors import EngineError
from engine.preprocess import INPUT_SUFFIXES
from engine.version import __version__


def _patterns(suffixes: tuple[str, ...]) -> str:
    return " ".join(f"*{suffix}" for suffix in suffixes)


MODEL_FILTER = f"ONNX models ({_patterns(MODEL_SUFFIXES)});;All files (*)"
IMAGE_FILTER = f"Images, tensors and audio ({_patterns(INPUT_SUFFIXES)});;All files (*)"
SESSION_FILTER = f"Featurescope sessions (*{SESSION_SUFFIX});;All files (*)"


class WindowOps(Protocol):
    """What the menus ask of the window (:class:`app.main_window.MainWindow` does it)."""

    def open_paths(self, paths: list[Path]) -> None:
        """Open files by kind: a model, an input, a session."""

    def open_session(self, path: Path, remember: bool = True) -> bool:
        """Reopen a session file."""

    def close_model(self) -> None:
        """Close the model (and drop its autosave)."""

    def run_attribution(self) -> None:
        """Show the attribution panel and run what it describes."""

    def cancel_attribution(self) -> None:
        """Cancel the running attribution."""

    def mosaic_widget(self) -> QWidget:
        """The channel mosaic as shown, for a PNG export."""

    def shown_heatmap(self) -> AttributionResult | None:
        """The attribution heatmap shown large, if any."""


class Actions:
    """Build the menu bar of ``window`` and hold its actions.

    Parameters
    ----------
    window
        The main window: menu bar, dialog parent, "Window as PNG" and Quit.
    ops
        The window operations the menus trigger.
    controller, state, settings, notifier
        What the actions read and drive.
    """

    def __init__(self, window: QMainWindow, ops: WindowOps, controller: Controller,
                 state: AppState, settings: Settings, notifier: Notifier) -> None:
        self.window, self.ops = window, ops
        self.controller, self.state = controller, state
        self.settings, self.notifier = settings, notifier
        bar = window.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_model = self._add(file_menu, "Open &model…", QKeySequence.StandardKey.Open,
                                    self.choose_model, "Open an .onnx model")
        self.open_image = self._add(file_menu, "Open &input…", "Ctrl+I", self.choose_image,
                                    "Open an image, a .npy tensor or a .wav file as input")
        self.close_model = self._add(file_menu, "&Close model", QKeySequence.StandardKey.Close,
                                     ops.close_model, "Close the model and free its memory")
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
                                       lambda p: export.export_view_png(window, p)),
                  "Save a PNG of the whole window")
        self._add(export_menu, "Mosaic as PNG…", None,
                  lambda: self._export("PNG image (*.png)", ".png",
                                       lambda p: export.export_view_png(ops.mosaic_widget(), p)),
                  "Save a PNG of the channel mosaic as shown")
        self._add(export_menu, "Channel as .npy…", None,
                  lambda: self._export("NumPy array (*.npy)", ".npy",
                                       lambda p: export.export_channel_npy(state, p)),
                  "Save the selected channel's raw values")
        self._add(export_menu, "Layer as .npy…", None,
                  lambda: self._export("NumPy array (*.npy)", ".npy",
                                       lambda p: export.export_channel_npy(state, p, True)),
                  "Save every channel of the selected layer")
        self._add(export_menu, "Heatmap as .npy…", None,
                  lambda: self._export("NumPy array (*.npy)", ".npy",
                                       lambda p: export.export_heatmap_npy(ops.shown_heatmap(),
                                                                           p)),
                  "Save the shown attribution heatmap's raw values")
        self._add(export_menu, "Statistics as CSV…", None,
                  lambda: self._export("CSV (*.csv)", ".csv",
                                       lambda p: export.export_stats_csv(state, p)),
                  "Save per-channel statistics of every layer")
        file_menu.addSeparator()
        self._add(file_menu, "&Quit", QKeySequence.StandardKey.Quit, window.close, "")

        self.view_menu = bar.addMenu("&View")
        self._add(self.view_menu, "Next layer", "Ctrl+Down", lambda: self.step_layer(1),
                  "Show the next conv layer")
        self._add(self.view_menu, "Previous layer", "Ctrl+Up", lambda: self.step_layer(-1),
                  "Show the previous conv layer")
        self._add(self.view_menu, "Next channel", "Alt+Right", lambda: self.step_channel(1),
                  "Open the next channel")
        self._add(self.view_menu, "Previous channel", "Alt+Left", lambda: self.step_channel(-1),
                  "Open the previous channel")
        self.view_menu.addSeparator()  # the window adds its docks' toggles below

        run = bar.addMenu("&Attribution")
        self.run = self._add(run, "&Run", "Ctrl+R", ops.run_attribution,
                             "Run the chosen attribution method")
        self.cancel = self._add(run, "&Cancel", "Escape", ops.cancel_attribution,
                                "Cancel the running attribution")
        help_menu = bar.addMenu("&Help")
        self._add(help_menu, "About Featurescope", None, self.about, "")
        state.modelChanged.connect(self.refresh_recent)
        self.refresh_recent()

    def _add(self, menu: QMenu, text: str, shortcut: object, slot: Callable[[], object],
             tip: str) -> QAction:
        action = QAction(text, self.window)
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
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model",
                                              self.settings.folder("models"), MODEL_FILTER)
        if path:
            self.controller.open_model(path)

    def choose_image(self) -> None:
        """Ask for an input file and run the model on it."""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open input",
                                              self.settings.folder("images"), IMAGE_FILTER)
        if path:
            self.ops.open_paths([Path(path)])

    def choose_session(self) -> None:
        """Ask for a session file and reopen it."""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open session",
                                              self.settings.folder("sessions"), SESSION_FILTER)
        if path:
            self.ops.open_session(Path(path))

    def choose_labels(self) -> None:
        """Ask for a labels file."""
        path, _ = QFileDialog.getOpenFileName(self.window, "Labels file", "",
                                              "Text (*.txt);;All (*)")
        if path:
            self.controller.set_labels(Path(path))

    def save_session(self, path: Path | None = None) -> bool:
        """Write a session file (asks where when ``path`` is None)."""
        if path is None:
            name, _ = QFileDialog.getSaveFileName(self.window, "Save session",
                                                  self.settings.folder("sessions"),
                                                  SESSION_FILTER)
            if not name:
                return False
            path = Path(name) if Path(name).suffix else Path(name + SESSION_SUFFIX)
        try:
            export.save_session(self.state, path)
        except EngineError as exc:
            self.notifier.error(exc, "Save session")
            return False
        self.settings.add_recent("sessions", path)
        self.notifier.notify("info", f"Session saved to {path.name}.")
        return True

    def _export(self, filter_text: str, suffix: str, write: Callable[[Path], None]) -> None:
        name, _ = QFileDialog.getSaveFileName(self.window, "Export",
                                              self.settings.folder("export"), filter_text)
        if not name:
            return
        path = Path(name) if Path(name).suffix else Path(name + suffix)
        try:
            write(path)
        except EngineError as exc:
            self.notifier.error(exc, "Export")
            return
        self.settings.set_folder("export", path.parent)
        self.notifier.notify("info", f"Exported {path.name}.")

    def refresh_recent(self) -> None:
        """Rebuild the recent-files menus."""
        for menu, kind in ((self.recent_models, "models"), (self.recent_images, "images")):
            menu.clear()
            for path in self.settings.recent(kind):
                action = menu.addAction(str(path).replace("&", "&&"))  # not a mnemonic
                action.triggered.connect(lambda _c=False, p=path: self.ops.open_paths([p]))
            menu.setEnabled(bool(menu.actions()))

    # -- navigation -----------------------------------------------------------------------------
    def step_layer(self, step: int) -> None:
        """Move to the next/previous shown layer."""
        state = self.state
        names = [m.layer.name for m in state.maps.layers] if state.maps else []
        if not names:
            return
        current = names.index(state.layer_name) if state.layer_name in names else 0
        state.select_layer(names[max(0, min(len(names) - 1, current + step))])

    def step_channel(self, step: int) -> None:
        """Open the next/previous channel of the layer."""
        maps = self.state.current_maps()
        if maps is None:
            return
        current = self.state.channel if self.state.channel is not None else -step
        self.state.select_channel(max(0, min(maps.data.shape[0] - 1, current + step)))

    def about(self) -> None:
        """A short about box."""
        QMessageBox.about(self.window, "Featurescope",
                          f"Featurescope {__version__}\nFeature maps and attributions of ONNX "
                          "convolutional networks.")
