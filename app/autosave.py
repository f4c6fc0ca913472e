"""Autosave of the current session and recovery of sessions left by a crash or a kill.

Each running window owns one autosave file, ``<AppData>/autosave/session-<id>.fsession``
(the ordinary session format of :mod:`app.export`), and holds a :class:`QLockFile`
beside it for as long as it lives. The file is rewritten atomically (through
:mod:`engine.atomic_files`) one second after the last change and removed on a normal
exit. A file whose lock is stale (its process died: a crash, ``kill -9``, a power
cut) is an *orphan*: the next start claims its lock and offers to restore it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLockFile, QObject, QStandardPaths, QTimer

from app.export import SESSION_FORMAT, session_dict
from app.paths import SESSION_SUFFIX
from app.state import AppState
from engine.atomic_files import write_json_atomic, write_text_atomic
from engine.errors import EngineError, OutputError

LOG = logging.getLogger("featurescope.autosave")
AUTOSAVE_DELAY_MS = 1000
LOCK_SUFFIX = ".lock"


def autosave_folder() -> Path:
    """``<AppDataLocation>/autosave`` (not created here)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) / "autosave"


def _lock(path: Path) -> QLockFile:
    lock = QLockFile(str(path.with_suffix(LOCK_SUFFIX)))
    lock.setStaleLockTime(0)  # stale only when its process is gone, never by age
    return lock


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        LOG.warning("could not remove %s: %s", path, exc)


@dataclass
class Orphan:
    """An autosave whose process died; its lock is held by this process until released."""

    path: Path
    data: dict[str, Any]
    lock: QLockFile = field(repr=False)

    @property
    def saved_at(self) -> float:
        """When it was written (seconds since the epoch)."""
        value = self.data.get("saved_at")
        if isinstance(value, int | float):
            return float(value)
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def summary(self) -> str:
        """``efficientnet_lite0.onnx with chelsea.png, autosaved at 14:03`` (plain text)."""
        model = Path(str(self.data.get("model") or "?")).name
        image = self.data.get("input")
        stamp = datetime.fromtimestamp(self.saved_at).strftime("%H:%M on %d %b")
        with_input = f" with {Path(str(image)).name}" if image else ""
        return f"{model}{with_input}, autosaved at {stamp}"

    def release(self) -> None:
        """Keep the file for a later start; let other processes claim it."""
        self.lock.unlock()

    def discard(self) -> None:
        """Delete the orphan and its lock."""
        _remove(self.path)
        self.lock.unlock()


def find_orphans(folder: Path | None = None, exclude: tuple[Path, ...] = ()) -> list[Orphan]:
    """Claim every autosave left by a dead process, newest first.

    A file whose owner still runs (another open window) is skipped; an unreadable one is
    removed (autosaves are written atomically, so it can only have been tampered with).
    """
    folder = autosave_folder() if folder is None else folder
    if not folder.is_dir():
        return []
    found: list[Orphan] = []
    for path in sorted(folder.glob(f"*{SESSION_SUFFIX}")):
        if path in exclude:
            continue
        lock = _lock(path)
        if not lock.tryLock(0):
            continue  # a live process owns it
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
                raise ValueError("not a session")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            LOG.warning("removing unreadable autosave %s: %s", path.name, exc)
            _remove(path)
            lock.unlock()
            continue
        found.append(Orphan(path, data, lock))
    found.sort(key=lambda o: o.saved_at, reverse=True)
    return found


class Autosaver(QObject):
    """Rewrite this window's autosave file ``delay_ms`` after the last change of the state.

    It listens to the state's change signals (never to widgets) and saves the session
    the state holds; nothing while no model is open.

    Parameters
    ----------
    state
        The window's state.
    folder
        Where autosaves live (default: :func:`autosave_folder`).
    on_error
        Called once with the error when the folder cannot be written; autosave stops.
    """

    def __init__(self, state: AppState, folder: Path | None = None,
                 delay_ms: int = AUTOSAVE_DELAY_MS,
                 on_error: Callable[[EngineError], None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._on_error = on_error
        self.folder = autosave_folder() if folder is None else folder
        self.path = self.folder / f"session-{uuid.uuid4().hex[:12]}{SESSION_SUFFIX}"
        self.enabled = True
        self.saves = 0
        self._lock: QLockFile | None = None
        self._last = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.save_now)
        for signal in (state.modelChanged, state.inputChanged, state.layerChanged,
                       state.channelChanged, state.displayChanged, state.opacityChanged,
                       state.attributionChoiceChanged):
            signal.connect(self.schedule)

    def snapshot(self) -> dict[str, Any] | None:
        """The session as the autosave writes it; None without a model."""
        if self._state.model is None:
            return None
        return session_dict(self._state)

    def schedule(self, *_args: object) -> None:
        """Something changed: save after the delay (restarting it)."""
        if self.enabled:
            self._timer.start()

    @property
    def pending(self) -> bool:
        """Whether a save is scheduled."""
        return self._timer.isActive()

    def save_now(self) -> bool:
        """Write the autosave now if the session changed; return whether a file was written."""
        self._timer.stop()
        if not self.enabled:
            return False
        data = self.snapshot()
        if data is None:
            return False
        text = json.dumps(data, sort_keys=True, default=str)
        if text == self._last:
            return False
        try:
            self._ensure_lock()
            write_json_atomic(self.path, {**data, "saved_at": time.time()})
        except EngineError as exc:
            self._fail(exc)
            return False
        self._last = text
        self.saves += 1
        LOG.debug("session autosaved to %s", self.path)
        return True

    def adopt(self, orphan: Orphan) -> Path:
        """Take over an orphan: its content becomes this window's autosave; it is deleted."""
        try:
            self._ensure_lock()
            write_text_atomic(self.path, orphan.path.read_text(encoding="utf-8"))
        except (OSError, EngineError) as exc:
            LOG.warning("could not copy the autosave %s: %s", orphan.path.name, exc)
            return orphan.path  # restore from the orphan itself; it stays until then
        orphan.discard()
        return self.path

    def discard(self) -> None:
        """A normal end or a closed model: remove the autosave and its lock."""
        self._timer.stop()
        self._last = ""
        if self._lock is None:
            return  # nothing was ever written
        _remove(self.path)
        self._lock.unlock()
        self._lock = None

    def _ensure_lock(self) -> None:
        if self._lock is not None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Cannot create the autosave folder '{self.folder}': "
                              f"{exc.strerror or exc}.", str(exc)) from exc
        lock = _lock(self.path)
        if not lock.tryLock(0):
            raise OutputError(f"Cannot lock the autosave file in '{self.folder}'.",
                              f"QLockFile error {lock.error()}")
        self._lock = lock

    def _fail(self, exc: EngineError) -> None:
        self.enabled = False
        LOG.warning("autosave disabled: %s", exc.one_line())
        if self._on_error is not None:
            self._on_error(exc)
