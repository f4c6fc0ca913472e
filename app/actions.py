"""Menus, shortcuts, file dialogs, recent files and exports of the main window.

:class:`Actions` works on the controller, the state, the settings and the notifier it
is given, and on the window only through the few operations of :class:`WindowOps`,
so this module does not import the window.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QWidget

from app import export
from app.controller import Controller
from app.help import HelpWindow, about_html, reading_guide_html, shortcuts_html
from app.info import info_text
from app.notify import Notifier
from app.paths import DEMO_MODEL, MODEL_SUFFIXES, SESSION_SUFFIX, inside_bundle
from app.settings import Settings
from app.state import AppState
from engine.attribution.types import AttributionResult
from engine.errors import EngineError
from engine.preprocess import INPUT_SUFFIXES


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

    def heatmap_look(self) -> tuple[str, float]:
        """The colormap and opacity the heatmap is shown with."""


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
        self._add(export_menu, "Window as PNG…", "Ctrl+Shift+E",
                  lambda: self._export("window", "PNG image (*.png)",
                                       lambda p: export.export_view_png(window, p)),
                  "Save a PNG of the whole window")
        self._add(export_menu, "Mosaic as PNG…", None,
                  lambda: self._export("mosaic", "PNG image (*.png)",
                                       lambda p: export.export_view_png(ops.mosaic_widget(), p)),
                  "Save a PNG of the channel mosaic as shown")
        self._add(export_menu, "Channel as .npy…", None,
                  lambda: self._export("channel", "NumPy array (*.npy)",
                                       lambda p: export.export_channel_npy(state, p)),
                  "Save the selected channel's raw values (and a JSON sidecar)")
        self._add(export_menu, "Layer as .npy…", None,
                  lambda: self._export("layer", "NumPy array (*.npy)",
                                       lambda p: export.export_channel_npy(state, p, True)),
                  "Save every channel of the selected layer (and a JSON sidecar)")
        self._add(export_menu, "Heatmap as .npy…", None,
                  lambda: self._export("heatmap", "NumPy array (*.npy)",
                                       lambda p: export.export_heatmap_npy(ops.shown_heatmap(),
                                                                           p, state)),
                  "Save the shown attribution heatmap's raw values (and its manifest)")
        self._add(export_menu, "Heatmap overlay as PNG…", None,
                  lambda: self._export("overlay", "PNG image (*.png)",
                                       lambda p: export.export_overlay_png(
                                           ops.shown_heatmap(), state, p,
                                           *ops.heatmap_look())),
                  "Save the shown heatmap over the input, as shown, at the input's size")
        self._add(export_menu, "Statistics as CSV…", None,
                  lambda: self._export("stats", "CSV (*.csv)",
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
        self._add(help_menu, "Keyboard shortcuts", "F1", self.show_shortcuts,
                  "Every keyboard shortcut of the window")
        self._add(help_menu, "How to read these views", None, self.show_guide,
                  "Feature maps, receptive fields, predictions and what each attribution "
                  "method computes and costs")
        self._add(help_menu, "About Featurescope", None, self.about,
                  "Version, paths and execution providers of this installation")
        self.help_window: HelpWindow | None = None
        for menu in (self.recent_models, self.recent_images):
            menu.aboutToShow.connect(self.refresh_recent)
        state.modelChanged.connect(self.refresh_recent)
        state.inputChanged.connect(self.refresh_recent)
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
        path, _ = QFileDialog.getOpenFileName(self.window, "Labels file",
                                              self.settings.folder("labels"),
                                              "Text (*.txt);;All (*)")
        if path:
            self.settings.set_folder("labels", Path(path).parent)
            self.controller.set_labels(Path(path))

    def save_session(self, path: Path | None = None) -> bool:
        """Write a session file (asks where when ``path`` is None)."""
        if path is None:
            start = str(Path(self.settings.folder("sessions"))
                        / export.suggest_name(self.state, "session"))
            name, _ = QFileDialog.getSaveFileName(self.window, "Save session", start,
                                                  SESSION_FILTER)
            if not name:
                return False
            path = Path(name) if Path(name).suffix else Path(name + SESSION_SUFFIX)
        try:
            export.save_session(self.state, path)
        except EngineError as exc:
            self.notifier.error(exc, f"Save session (folder {path.parent})")
            return False
        self.settings.add_recent("sessions", path)
        self.notifier.notify("info", f"Session saved to {path.name}.")
        return True

    def _export(self, what: str, filter_text: str, write: Callable[[Path], None]) -> None:
        """Ask where (the last export folder, a name saying what it holds) and write."""
        suggested = export.suggest_name(self.state, what, self.ops.shown_heatmap())
        start = str(Path(self.settings.folder("export")) / suggested)
        name, _ = QFileDialog.getSaveFileName(self.window, "Export", start, filter_text)
        if not name:
            return
        suffix = Path(suggested).suffix
        path = Path(name) if Path(name).suffix else Path(name + suffix)
        self.export_to(path, write)

    def export_to(self, path: Path, write: Callable[[Path], None]) -> bool:
        """Write an export; a failure names the folder it could not write in."""
        try:
            write(path)
        except EngineError as exc:
            self.notifier.error(exc, f"Export to the folder {path.parent}")
            return False
        self.settings.set_folder("export", path.parent)
        sidecar = " and its JSON sidecar" if path.suffix == ".npy" else ""
        self.notifier.notify("info", f"Exported {path.name}{sidecar}.")
        return True

    def refresh_recent(self) -> None:
        """Rebuild the recent-files menus (the bundled demo by name, never its path)."""
        for menu, kind in ((self.recent_models, "models"), (self.recent_images, "images")):
            menu.clear()
            for path in self.settings.recent(kind):
                text = f"Demo model ({path.name})" if path == DEMO_MODEL.resolve() else \
                    f"Bundled example ({path.name})" if inside_bundle(path) else str(path)
                action = menu.addAction(text.replace("&", "&&"))  # not a mnemonic
                action.setToolTip("" if inside_bundle(path) else str(path))
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

    # -- help ------------------------------------------------------------------------------------
    def all_actions(self) -> list[QAction]:
        """Every action of the menu bar, in menu order."""
        found: list[QAction] = []

        def walk(menu: QMenu) -> None:
            for action in menu.actions():
                if action.menu() is not None:
                    walk(action.menu())  # type: ignore[arg-type]
                elif not action.isSeparator():
                    found.append(action)

        for top in self.window.menuBar().actions():
            if top.menu() is not None:
                walk(top.menu())  # type: ignore[arg-type]
        return found

    def _help(self, title: str, page: str) -> HelpWindow:
        if self.help_window is None:
            self.help_window = HelpWindow(title, page, self.window)
        self.help_window.setWindowTitle(title)
        self.help_window.set_page(page)
        self.help_window.show()
        if QGuiApplication.platformName() != "offscreen":  # nothing to raise off screen
            self.help_window.raise_()
        return self.help_window

    def show_shortcuts(self) -> HelpWindow:
        """The keyboard shortcuts, generated from the menus."""
        return self._help("Keyboard shortcuts", shortcuts_html(self.all_actions()))

    def show_guide(self) -> HelpWindow:
        """How to read the views (the methods part generated from the registry)."""
        return self._help("How to read these views", reading_guide_html())

    def about(self) -> HelpWindow:
        """Version and installation facts (what ``--info`` prints)."""
        return self._help("About Featurescope", about_html(info_text()))
