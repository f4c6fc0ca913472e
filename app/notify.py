"""One notification path: log records, uncaught exceptions and job errors end here.

The :class:`Notifier` is a QObject living in the GUI thread. Anything may call
:meth:`Notifier.notify` from any thread; the signal is delivered queued to the
window, which shows it without blocking (an information bar, never a modal box).
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from dataclasses import dataclass
from types import TracebackType

from PySide6.QtCore import QObject, Signal

from engine.errors import Cancelled, EngineError

LOG = logging.getLogger("featurescope")


@dataclass(frozen=True)
class Notice:
    """One message for the user: level (info, warning, error), sentence, technical detail.

    ``topic`` names the condition the message describes (a job kind such as
    ``model`` or ``maps``, or ``input``); :meth:`Notifier.resolve` ends it.
    """

    level: str
    message: str
    detail: str = ""
    topic: str = ""


class Notifier(QObject):
    """Collects notices and re-emits them in the GUI thread.

    ``resolved`` carries the topics whose condition has ended (a later model
    loaded, a later run succeeded): their messages are no longer shown.
    """

    notified = Signal(object)
    resolved = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history: list[Notice] = []
        self._lock = threading.Lock()

    def notify(self, level: str, message: str, detail: str = "", topic: str = "") -> None:
        """Record a notice and emit it (safe from any thread)."""
        notice = Notice(level, message, detail, topic)
        with self._lock:
            self.history.append(notice)
            del self.history[:-200]
        self.notified.emit(notice)

    def resolve(self, *topics: str) -> None:
        """The conditions ``topics`` describe have ended: their messages go away."""
        self.resolved.emit(frozenset(topics))

    def error(self, exc: BaseException, context: str = "", topic: str = "") -> None:
        """Report an exception: engine errors by their sentence, others as internal errors."""
        prefix = f"{context}: " if context else ""
        if isinstance(exc, Cancelled):
            self.notify("info", f"{prefix}{exc.message}", topic=topic)
        elif isinstance(exc, EngineError):
            LOG.warning("%s%s", prefix, exc.one_line())
            self.notify("error", f"{prefix}{exc.message}", exc.detail, topic)
        elif isinstance(exc, MemoryError):
            self.notify("error", f"{prefix}Out of memory.", "", topic)
        else:
            detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            LOG.error("%sunexpected error\n%s", prefix, detail)
            text = str(exc).splitlines()[0] if str(exc) else ""
            self.notify("error", f"{prefix}Unexpected internal error: {type(exc).__name__}: "
                        f"{text} (please report it).", detail, topic)


class NotifierHandler(logging.Handler):
    """Forward WARNING and above log records (not already notified) to the notifier."""

    def __init__(self, notifier: Notifier) -> None:
        super().__init__(logging.WARNING)
        self._notifier = notifier

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("featurescope"):
            return  # our own records already went through the notifier
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        level = "error" if record.levelno >= logging.ERROR else "warning"
        self._notifier.notify(level, message.splitlines()[0] if message else record.name,
                              message)


class ExceptHooks:
    """Install ``sys.excepthook`` and ``threading.excepthook`` that route to a notifier."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier
        self._old_sys = sys.excepthook
        self._old_thread = threading.excepthook
        self._handler = NotifierHandler(notifier)

    def install(self) -> None:
        """Route uncaught exceptions and foreign warnings to the notifier."""
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook
        logging.getLogger().addHandler(self._handler)

    def uninstall(self) -> None:
        """Restore the previous hooks."""
        sys.excepthook = self._old_sys
        threading.excepthook = self._old_thread
        logging.getLogger().removeHandler(self._handler)

    def _sys_hook(self, kind: type[BaseException], exc: BaseException,
                  tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._old_sys(kind, exc, tb)
            return
        self._notifier.error(exc.with_traceback(tb))

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self._notifier.error(args.exc_value, f"thread {getattr(args.thread, 'name', '?')}")
