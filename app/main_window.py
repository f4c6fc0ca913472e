"""The main window: docks bound to the state, an information bar, the status bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import export
from app.actions import Actions
from app.analysis_docks import AnalysisTools
from app.autosave import Autosaver, Orphan, find_orphans
from app.controller import Controller
from app.jobs import JobRunner
from app.notify import Notifier
from app.paths import ICON, kind_of
from app.settings import Settings
from app.state import AppState, AttributionChoice
from app.views.attribution_panel import AttributionPanel
from app.views.bars import InfoBar, RecoveryBar
from app.views.channel_detail import ChannelDetail
from app.views.common import plain_tooltip
from app.views.input_panel import InputPanel
from app.views.layer_tree import LayerTree
from app.views.model_card import ModelCard, provider_text
from app.views.mosaic import MosaicView
from app.views.overview import Overview
from engine.attribution import registry
from engine.attribution.types import AttributionResult
from engine.errors import EngineError


class MainWindow(QMainWindow):
    """Featurescope's window: layers left, mosaic centre, input/channel/attribution right.

    It implements :class:`app.actions.WindowOps` for its menus.
    """

    def __init__(self, notifier: Notifier | None = None, settings: Settings | None = None,
                 parent: QWidget | None = None, autosave_folder: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Featurescope")
        if ICON.is_file():
            self.setWindowIcon(QIcon(str(ICON)))
        self.setObjectName("FeaturescopeMainWindow")
        self.notifier = notifier or Notifier(self)
        self.settings = settings or Settings()
        self.state = AppState(self)
        self.runner = JobRunner(self.notifier, self)
        self.controller = Controller(self.state, self.runner, self.notifier, self.settings, self)
        self._build()
        self.actions_ = Actions(self, self, self.controller, self.state, self.settings,
                                self.notifier)
        self.actions_.view_menu.addActions([
            dock.toggleViewAction() for dock in (self.layers_dock, self.model_dock,
                                                 self.input_dock, self.channel_dock,
                                                 self.attribution_dock)])
        self.analysis = AnalysisTools(self)
        self._restore()
        self.autosaver = Autosaver(self.state, autosave_folder,
                                   on_error=lambda exc: self.notifier.error(exc, "Autosave"),
                                   parent=self)
        self.setAcceptDrops(True)
        self.notifier.notified.connect(self.infobar.show_notice)
        self.notifier.resolved.connect(self.infobar.resolve)
        self.state.busyChanged.connect(self._busy)
        self.state.mapsChanged.connect(self._provider)
        self.state.modelChanged.connect(self._title)
        self.state.inputChanged.connect(self._title)
        # a channel opened is named on its tab; the right dock stays as the user left it
        self.state.channelChanged.connect(self._channel_tab)
        self.state.layerChanged.connect(lambda _n: self._channel_tab())
        self.state.modelChanged.connect(self._channel_tab)

    # -- layout ----------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea,
              scroll: bool = False) -> QDockWidget:
        """A dock for ``widget``; with ``scroll`` inside a scroll area, so that a tall or
        wide panel never forces the window beyond the screen (nor widens its dock area)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        if scroll:
            area_widget = QScrollArea(dock)
            area_widget.setWidgetResizable(True)
            area_widget.setFrameShape(QFrame.Shape.NoFrame)
            area_widget.setWidget(widget)
            area_widget.setMinimumSize(160, 120)
            dock.setWidget(area_widget)
        else:
            dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build(self) -> None:
        self.mosaic = MosaicView(self.state, self)
        self.overview = Overview(self.state, self)
        self.infobar = InfoBar(self)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.mosaic)
        splitter.addWidget(self.overview)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([640, 240])
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        self.recovery_bar = RecoveryBar(self)
        self.recovery_bar.restoreRequested.connect(self.restore_orphan)
        self.recovery_bar.discardRequested.connect(lambda orphan: orphan.discard())
        column.addWidget(self.recovery_bar)
        column.addWidget(self.infobar)
        column.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.layer_tree = LayerTree(self.state, self)
        self.model_card = ModelCard(self.state, self)
        self.input_panel = InputPanel(self.state, self.controller.spec_reasons, self)
        self.channel = ChannelDetail(self.state, self)
        self.attribution = AttributionPanel(self.state, self.controller, self)
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.layers_dock = self._dock("Layers", self.layer_tree, left)
        self.model_dock = self._dock("Model", self.model_card, left)
        self.tabifyDockWidget(self.layers_dock, self.model_dock)
        self.input_dock = self._dock("Input", self.input_panel, right, scroll=True)
        self.channel_dock = self._dock("Channel", self.channel, right, scroll=True)
        self.attribution_dock = self._dock("Attribution", self.attribution, right, scroll=True)
        self.tabifyDockWidget(self.input_dock, self.channel_dock)
        self.tabifyDockWidget(self.channel_dock, self.attribution_dock)
        self.layers_dock.raise_()
        self.input_dock.raise_()
        self.input_panel.specEdited.connect(self.controller.set_spec)
        self.input_panel.labelsRequested.connect(lambda: self.actions_.choose_labels())

        self.busy_bar = QProgressBar(self)
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.hide()
        self.stop_button = QToolButton(self)
        self.stop_button.setText("Stop")
        self.stop_button.setToolTip(plain_tooltip(
            "Stop the running job (loading, feature maps, attribution)"))
        self.stop_button.clicked.connect(self.controller.cancel_all)
        self.stop_button.hide()
        self.busy_label = QLabel("", self)
        self.busy_label.setTextFormat(Qt.TextFormat.PlainText)
        self.provider_label = QLabel("Provider: not run yet", self)
        self.provider_label.setTextFormat(Qt.TextFormat.PlainText)
        status = self.statusBar()
        status.addWidget(self.busy_bar)
        status.addWidget(self.stop_button)
        status.addWidget(self.busy_label, 1)
        status.addPermanentWidget(self.provider_label)

    def _restore(self) -> None:
        geometry, dock_state = self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
            self.fit_to_screen()
        else:  # once the tabified docks have settled their minimum sizes
            QTimer.singleShot(0, lambda: self.default_layout(1500, 920))
        if dock_state is not None:
            self.restoreState(dock_state)
        self.state.set_display(colormap=self.settings.get("colormap", "viridis"),
                               normalization=self.settings.get("normalization", "channel"),
                               sort_key=self.settings.get("sort", "index"))

    def fit_to_screen(self) -> None:
        """Keep the window inside the available screen (a saved geometry may come from a
        larger one): shrink it to fit, then move it fully onto the screen."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        frame = self.frameGeometry()
        extra_w = max(0, frame.width() - self.width())
        extra_h = max(0, frame.height() - self.height())
        width = min(self.width(), area.width() - extra_w)
        height = min(self.height(), area.height() - extra_h)
        if (width, height) != (self.width(), self.height()):
            if self.isMaximized() or self.isFullScreen():
                self.showNormal()
            self.resize(max(width, self.minimumWidth()), max(height, self.minimumHeight()))
        frame = self.frameGeometry()
        x = min(max(frame.x(), area.left()), area.right() + 1 - frame.width())
        y = min(max(frame.y(), area.top()), area.bottom() + 1 - frame.height())
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    def default_layout(self, width: int, height: int, fit: bool = True) -> None:
        """Resize the window and give the side docks their widths.

        With ``fit`` the size is first reduced to the available screen (scripted
        screenshots render off screen and keep the size asked for).
        """
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None and fit:
            area = screen.availableGeometry()
            width, height = min(width, area.width()), min(height, area.height())
        self.resize(width, height)
        self.resizeDocks([self.layers_dock, self.input_dock], [width * 27 // 100,
                                                               width * 30 // 100],
                         Qt.Orientation.Horizontal)

    def raise_dock(self, dock: QDockWidget) -> None:
        """Bring a tabified dock to the front."""
        dock.show()
        dock.raise_()

    def _channel_tab(self, _channel: int | None = None) -> None:
        channel = self.state.channel if self.state.current_maps() is not None else None
        self.channel_dock.setWindowTitle("Channel" if channel is None else f"Channel {channel}")

    # -- operations of the menus (app.actions.WindowOps) ---------------------------------------
    def run_attribution(self) -> None:
        """Show the attribution panel and run what it describes."""
        self.raise_dock(self.attribution_dock)
        self.attribution.run()

    def cancel_attribution(self) -> None:
        """Cancel the running attribution."""
        self.attribution.cancel()

    def mosaic_widget(self) -> QWidget:
        """The channel mosaic as shown."""
        graphics: QWidget = self.mosaic.graphics
        return graphics

    def shown_heatmap(self) -> AttributionResult | None:
        """The attribution heatmap shown large, if any (never a preview)."""
        view = self.attribution.view
        return None if view.previewing else view.shown

    def heatmap_look(self) -> tuple[str, float]:
        """The colormap and opacity the heatmap is shown with."""
        return self.attribution.view.colormap.currentText(), self.state.heatmap_opacity

    # -- status ----------------------------------------------------------------------------
    def _busy(self, busy: bool, text: str) -> None:
        self.busy_bar.setVisible(busy)
        self.stop_button.setVisible(busy)
        self.busy_label.setText(text + ("…" if busy and text else ""))

    def _provider(self) -> None:
        self.provider_label.setText("Provider: " + provider_text(self.state.run_info))
        if self.state.run_info is not None:
            self.provider_label.setToolTip(plain_tooltip(", ".join(
                self.state.run_info.providers)))

    def _title(self) -> None:
        parts = ["Featurescope"]
        if self.state.model is not None:
            parts.append(self.state.model.info.path.name)
        if self.state.image_path is not None:
            parts.append(self.state.image_path.name)
        # "[*]" in a file name would be taken for the modified-marker placeholder
        self.setWindowTitle(" — ".join(parts).replace("[*]", "[*][*]"))

    # -- opening -----------------------------------------------------------------------------
    def open_paths(self, paths: list[Path]) -> None:
        """Open dropped or command-line files by kind (model, image, session)."""
        models = [p for p in paths if kind_of(p) == "model"]
        images = [p for p in paths if kind_of(p) == "image"]
        sessions = [p for p in paths if kind_of(p) == "session"]
        unknown = [p for p in paths if kind_of(p) == "unknown"]
        if sessions:
            self.open_session(sessions[0])
        elif models:
            self.controller.open_model(models[0], images[0] if images else None)
        elif images:
            if self.state.model is None:
                self.state.set_input(images[0], self.state.spec)
                self.notifier.notify("info", "Image noted; open a model to run it.")
            else:
                self.controller.open_image(images[0])
        for p in unknown:
            self.notifier.notify("warning", f"'{p.name}' is not a model (.onnx), an image, "
                                 "a tensor (.npy), audio (.wav) or a session file.")

    def open_session(self, path: Path, remember: bool = True) -> bool:
        """Reopen the model, input, spec and settings saved in a session file."""
        try:
            data = export.load_session(path)
        except EngineError as exc:
            self.notifier.error(exc)
            return False
        if remember:
            self.settings.add_recent("sessions", path)
        display = data.display
        self.state.set_display(
            colormap=display.get("colormap") if isinstance(display.get("colormap"), str) else None,
            normalization=display.get("normalization")
            if isinstance(display.get("normalization"), str) else None,
            sort_key=display.get("sort") if isinstance(display.get("sort"), str) else None)
        self.state.set_opacity(channel=_fraction(display.get("opacity")),
                               heatmap=_fraction(display.get("heatmap_opacity")))
        self._session_selection = (data.layer, data.channel, data.attribution)
        self.controller.mapsReady.connect(self._apply_session_selection,
                                          type=Qt.ConnectionType.SingleShotConnection)
        self.controller.open_model(data.model, data.input, data.spec)
        return True

    def _apply_session_selection(self) -> None:
        layer, channel, attribution = getattr(self, "_session_selection", (None, None, {}))
        if layer and self.state.layer_info(layer) is not None:
            self.state.select_layer(layer)
        if channel is not None and self.state.current_maps() is not None:
            self.state.select_channel(channel)
        saved: dict[str, object] = attribution if isinstance(attribution, dict) else {}
        method, cam_layer, params = saved.get("method"), saved.get("layer"), saved.get("params")
        if isinstance(method, str) and method in registry.METHODS:
            if not isinstance(cam_layer, str) or (self.state.layer_info(cam_layer) is None
                                                  and cam_layer not in self.state.tensors):
                cam_layer = None
            self.state.set_attribution_choice(AttributionChoice(
                method=method, layer=cam_layer,
                params=tuple((str(k), v) for k, v in params.items())
                if isinstance(params, dict) else ()))

    # -- autosave and recovery ----------------------------------------------------------
    def close_model(self) -> None:
        """Close the model; there is no session left to autosave."""
        self.controller.close_model()
        self.autosaver.discard()

    def offer_recovery(self, restore: bool = False) -> Orphan | None:
        """Look for a session left by a crash; offer it (or, with ``restore``, reopen it).

        Returns
        -------
        Orphan or None
            The newest orphaned autosave, if any (others stay for later starts).
        """
        orphans = find_orphans(self.autosaver.folder, exclude=(self.autosaver.path,))
        if not orphans:
            return None
        newest = orphans[0]
        for other in orphans[1:]:
            other.release()
        if restore:
            self.restore_orphan(newest)
        else:
            self.recovery_bar.offer(newest)
        return newest

    def restore_orphan(self, orphan: Orphan) -> bool:
        """Reopen an orphaned autosave; it becomes this window's own autosave."""
        self.recovery_bar.hide()
        summary = orphan.summary()
        path = self.autosaver.adopt(orphan)
        if not self.open_session(path, remember=False):
            return False
        self.notifier.notify("info", f"Restored the session ({summary}).")
        return True

    # -- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # -- closing ---------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self.autosaver.discard()  # a normal exit leaves nothing to recover
        if self.recovery_bar.orphan is not None:
            self.recovery_bar.orphan.release()  # not answered: offered again next time
        self.settings.save_window_state(self.saveGeometry(), self.saveState())
        self.settings.put("colormap", self.state.colormap)
        self.settings.put("normalization", self.state.normalization)
        self.settings.put("sort", self.state.sort_key)
        self.settings.sync()
        self.analysis.shutdown()
        self.runner.shutdown(timeout=10.0)
        super().closeEvent(event)


def _fraction(value: object) -> float | None:
    """A session's opacity if it is a number in 0..1, else None (left as it is)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
        return float(value)
    return None
