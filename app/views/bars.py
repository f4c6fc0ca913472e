"""Non-modal strips above the views: notices, and the offer to restore a crashed session."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, SignalInstance
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.autosave import Orphan
from app.notify import Notice
from app.views.common import plain_tooltip

LEVEL_STYLE = {"error": "background:#5a1f1f; color:#ffd0d0",
               "warning": "background:#4d3d12; color:#ffe9b0",
               "info": "background:#1f3a4d; color:#d0ecff"}


class InfoBar(QFrame):
    """A non-modal message strip above the views; never blocks the event loop.

    It shows the newest live notice. A notice lives as long as the condition it
    describes: until the user dismisses it, its topic is resolved
    (:meth:`resolve`: a later model opened, a later run succeeded), or, for
    information, a few seconds have passed; then the previous live notice, if
    any, shows again.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("", self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file and node names
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("✕", self)
        close.setFlat(True)
        close.setFixedWidth(28)
        close.setToolTip(plain_tooltip("Dismiss"))
        close.clicked.connect(self.dismiss)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.label, 1)
        row.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._expire)
        self.live: list[Notice] = []
        self.hide()

    @property
    def shown(self) -> Notice | None:
        """The notice on display, if any."""
        return self.live[-1] if self.live else None

    def show_notice(self, notice: Notice) -> None:
        """Show a notice (one of the same topic and level is replaced)."""
        self.live = [n for n in self.live if not (
            notice.topic and n.topic == notice.topic and n.level == notice.level)]
        self.live.append(notice)
        del self.live[:-20]
        self._display()

    def resolve(self, topics: frozenset[str]) -> None:
        """The conditions ``topics`` describe have ended: their notices go."""
        kept = [n for n in self.live if n.topic not in topics]
        if len(kept) != len(self.live):
            self.live = kept
            self._display()

    def dismiss(self) -> None:
        """The user closed the shown notice."""
        if self.live:
            self.live.pop()
        self._display()

    def _expire(self) -> None:
        if self.live and self.live[-1].level == "info":
            self.live.pop()
        self._display()

    def _display(self) -> None:
        if not self.live:
            self._timer.stop()
            self.hide()
            return
        notice = self.live[-1]
        self.setStyleSheet(LEVEL_STYLE.get(notice.level, LEVEL_STYLE["info"]))
        self.label.setText(notice.message)
        self.label.setToolTip(plain_tooltip(notice.detail[:2000]) if notice.detail else "")
        self.show()
        if notice.level == "info":
            self._timer.start(8000)
        else:
            self._timer.stop()


class RecoveryBar(QFrame):
    """A strip above the views; it never blocks the event loop (no modal dialog)."""

    restoreRequested = Signal(object)
    discardRequested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.orphan: Orphan | None = None
        self.setStyleSheet(LEVEL_STYLE["info"])
        self.label = QLabel("", self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.restore_button = QPushButton("Restore", self)
        self.restore_button.setToolTip(plain_tooltip(
            "Reopen the model, input, spec, layer and settings "
            "of the interrupted session"))
        self.discard_button = QPushButton("Discard", self)
        self.discard_button.setToolTip(plain_tooltip("Delete the autosaved session"))
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.restore_button)
        row.addWidget(self.discard_button)
        self.restore_button.clicked.connect(lambda: self._answer(self.restoreRequested))
        self.discard_button.clicked.connect(lambda: self._answer(self.discardRequested))
        self.hide()

    def offer(self, orphan: Orphan) -> None:
        """Show the offer for one orphaned autosave."""
        self.orphan = orphan
        self.label.setText("Featurescope did not close normally last time. Restore the "
                           f"session ({orphan.summary()})?")
        self.show()

    def _answer(self, signal: SignalInstance) -> None:
        orphan, self.orphan = self.orphan, None
        self.hide()
        if orphan is not None:
            signal.emit(orphan)
