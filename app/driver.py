"""Scripted start-up: choose a layer and channel, run an attribution, then maybe exit.

``featurescope MODEL IMAGE --layer L --channel C --attribution METHOD --param k=v`` opens
the files and applies these choices once the feature maps are shown. With
``--screenshot PNG`` and/or ``--dump-state JSON`` it then waits until everything is
shown (and the attribution has finished), writes the files and quits: the exit code
says whether it worked. ``--dump-state`` writes the session as the window holds it
(model, input, spec, layer, channel, display and attribution settings), for tests
and scripts (``--restore --dump-state`` checks a crash recovery).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from app import export
from app.main_window import MainWindow
from engine.atomic_files import write_json_atomic
from engine.errors import EngineError

LOG = logging.getLogger("featurescope.driver")
SETTLE_MS = 600


@dataclass(frozen=True)
class Script:
    """What to do once the maps are shown, and which files to write before exiting."""

    layer: str | None = None
    channel: int | None = None
    method: str | None = None
    params: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    #: The rank of the prediction the attribution explains (None: the top one).
    target: int | None = None
    #: The right-hand panel shown in front: ``input``, ``channel`` or ``attribution``.
    panel: str | None = None
    screenshot: Path | None = None
    dump_state: Path | None = None
    timeout: float = 300.0

    @property
    def exits(self) -> bool:
        """Whether the app quits once the files are written."""
        return self.screenshot is not None or self.dump_state is not None


def state_dump(window: MainWindow) -> dict[str, Any]:
    """The window's session (as a session file holds it), results and notices."""
    try:
        data: dict[str, Any] = export.session_dict(window.state)
    except EngineError:
        data = {"model": None, "input": str(window.state.image_path or "") or None}
    data["attributions"] = [r.method for r in window.state.attributions]
    data["notices"] = [[n.level, n.message] for n in window.notifier.history]
    return data


class StartupDriver(QObject):
    """Drive the window through a :class:`Script` after the first maps are shown."""

    def __init__(self, window: MainWindow, script: Script) -> None:
        super().__init__(window)
        self.w, self.script = window, script
        self.exit_code = 1 if script.exits else 0
        self._done = False
        self._timeout = QTimer(self)
        self._timeout.setSingleShot(True)
        self._timeout.setInterval(int(script.timeout * 1000))
        self._timeout.timeout.connect(lambda: self._fail(f"timed out after {script.timeout:.0f} s"))
        window.controller.mapsReady.connect(self._maps_ready)
        if script.exits:  # otherwise the window itself reports failures
            window.controller.modelFailed.connect(lambda msg: self._fail(f"model failed: {msg}"))
            window.controller.attributionReady.connect(lambda _r: self._settle())
            window.controller.attributionStopped.connect(
                lambda why: self._fail(f"attribution {why}"))
            window.runner.failed.connect(lambda _i, kind, exc: self._fail(f"{kind} failed: {exc}"))

    def start(self, open_files: Callable[[], object]) -> None:
        """Arm the timeout (when exiting) and open the files."""
        if self.script.exits:
            self._timeout.start()
        open_files()

    def _maps_ready(self) -> None:
        self.w.controller.mapsReady.disconnect(self._maps_ready)
        # after this event: a session's own selection (connected later) is applied first
        QTimer.singleShot(0, self._apply)

    def _apply(self) -> None:
        state, script = self.w.state, self.script
        if script.layer:
            if state.layer_info(script.layer) is None:
                self._fail(f"the model has no layer named '{script.layer}'")
                return
            state.select_layer(script.layer)
        if script.channel is not None:
            state.select_channel(script.channel)
        if script.target is not None:
            items = state.predictions
            if not 0 <= script.target < len(items):
                self._fail(f"there is no prediction {script.target} ({len(items)} predicted)")
                return
            state.choose_target(items[script.target].target)
        if script.method:
            panel = self.w.attribution
            if not panel.select_method(script.method):
                names = ", ".join(panel.methods) or "none registered"
                self._fail(f"unknown attribution method '{script.method}' ({names})")
                return
            try:
                for name, value in script.params:
                    panel.params.set_value(name, value)
            except EngineError as exc:
                self._fail(exc.message.rstrip("."))
                return
            self.w.raise_dock(self.w.attribution_dock)
            LOG.info("running attribution %s", script.method)
            self._show_panel()
            panel.run()
        elif script.exits:
            self._show_panel()
            self._settle()
        else:
            self._show_panel()

    def _show_panel(self) -> None:
        docks = {"input": self.w.input_dock, "channel": self.w.channel_dock,
                 "attribution": self.w.attribution_dock}
        if self.script.panel in docks:
            self.w.raise_dock(docks[self.script.panel])

    def _settle(self) -> None:
        # let layouts, auto-ranges and paint events run before grabbing
        QTimer.singleShot(SETTLE_MS, self._write)

    def _write(self) -> None:
        QApplication.processEvents()
        try:
            if self.script.screenshot is not None:
                export.export_view_png(self.w, self.script.screenshot)
                LOG.info("screenshot saved to %s", self.script.screenshot)
            if self.script.dump_state is not None:
                write_json_atomic(self.script.dump_state, state_dump(self.w))
                LOG.info("state written to %s", self.script.dump_state)
        except EngineError as exc:
            self._fail(exc.one_line())
            return
        self.exit_code = 0
        self._quit()

    def _fail(self, why: str) -> None:
        if self._done:
            return
        if not self.script.exits:
            self.w.notifier.notify("warning", f"Start-up: {why}.")
            return
        LOG.error("%s failed: %s", "screenshot" if self.script.screenshot else "start-up", why)
        self.exit_code = 1
        self._quit()

    def _quit(self) -> None:
        self._done = True
        self._timeout.stop()
        self.w.close()
        QApplication.quit()
