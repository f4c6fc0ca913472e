"""``featurescope --screenshot``: open, wait until shown, save a PNG of the window, quit."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from app import export
from app.main_window import MainWindow
from engine.errors import EngineError

LOG = logging.getLogger("featurescope.screenshot")


class Screenshot(QObject):
    """Drive the window through the requested steps, then grab it."""

    def __init__(self, window: MainWindow, out: Path, layer: str | None, channel: int | None,
                 attribution: str | None, timeout: float) -> None:
        super().__init__(window)
        self.w, self.out, self.layer, self.channel = window, out, layer, channel
        self.method = attribution
        self.exit_code = 1
        self._timeout = QTimer(self)
        self._timeout.setSingleShot(True)
        self._timeout.setInterval(int(timeout * 1000))
        self._timeout.timeout.connect(lambda: self._fail(f"timed out after {timeout:.0f} s"))
        window.controller.mapsReady.connect(self._maps_ready)
        window.controller.modelFailed.connect(lambda msg: self._fail(f"model failed: {msg}"))
        window.controller.attributionReady.connect(lambda _r: self._settle(self._grab))
        window.controller.attributionStopped.connect(
            lambda why: self._fail(f"attribution {why}"))
        window.runner.failed.connect(lambda _i, kind, exc: self._fail(f"{kind} failed: {exc}"))

    def start(self, paths: list[Path]) -> None:
        """Open the files and arm the timeout."""
        self._timeout.start()
        self.w.open_paths(paths)

    def _maps_ready(self) -> None:
        self.w.controller.mapsReady.disconnect(self._maps_ready)
        state = self.w.state
        if self.layer:
            if state.layer_info(self.layer) is None:
                self._fail(f"the model has no layer named '{self.layer}'")
                return
            state.select_layer(self.layer)
        if self.channel is not None:
            state.select_channel(self.channel)
        if self.method:
            panel = self.w.attribution
            if not panel.select_method(self.method):
                names = ", ".join(m.name for m in panel.methods) or "none available"
                self._fail(f"unknown attribution method '{self.method}' ({names})")
                return
            self.w.raise_dock(self.w.attribution_dock)
            panel.run()
        else:
            self._settle(self._grab)

    def _settle(self, then: object) -> None:
        # let layouts, auto-ranges and paint events run before grabbing
        QTimer.singleShot(600, then)  # type: ignore[arg-type]

    def _grab(self) -> None:
        QApplication.processEvents()
        try:
            export.export_view_png(self.w, self.out)
        except EngineError as exc:
            self._fail(exc.one_line())
            return
        LOG.info("screenshot saved to %s", self.out)
        self.exit_code = 0
        self._quit()

    def _fail(self, why: str) -> None:
        if self.exit_code == 0:
            return
        LOG.error("screenshot failed: %s", why)
        self.exit_code = 1
        self._quit()

    def _quit(self) -> None:
        self._timeout.stop()
        self.w.close()
        QApplication.quit()
