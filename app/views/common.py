"""Shared pyqtgraph set-up and small helpers for the views.

pyqtgraph rules followed everywhere: row-major image order (set once, here),
float32 C-contiguous arrays with explicit levels, 256-entry uint8 lookup
tables, items updated in place, slider-driven redraws throttled.
"""

from __future__ import annotations

import functools
import html
import textwrap
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from engine.colormaps import COLORMAPS, lookup_table

_CONFIGURED = False


def configure_pyqtgraph() -> None:
    """Set pyqtgraph's global options once per process."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="#1e1e1e",
                        foreground="#d0d0d0")
    _CONFIGURED = True


@functools.cache
def lut(name: str) -> np.ndarray:
    """The engine's 256-entry uint8 lookup table for a colormap (cached, read-only)."""
    table = lookup_table(name)
    table.setflags(write=False)
    return table


@functools.cache
def colormap(name: str) -> pg.ColorMap:
    """A pyqtgraph ColorMap built from the engine's table (for colour bars)."""
    return pg.ColorMap(np.linspace(0.0, 1.0, 256), lut(name))


#: Tool tips wrap at this many characters a line, so none runs off the screen.
TOOLTIP_COLUMNS = 80


def wrap_lines(text: str, columns: int = TOOLTIP_COLUMNS) -> list[str]:
    """``text`` in lines of at most ``columns`` characters (its own line breaks kept;
    a word longer than a line, such as a path, is cut)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, columns, break_long_words=True,
                               break_on_hyphens=False, replace_whitespace=False) or [""]
    return lines


def plain_tooltip(text: str, columns: int = TOOLTIP_COLUMNS) -> str:
    """Tool-tip markup that shows ``text`` literally, wrapped to a bounded width.

    Qt renders a tool tip as rich text whenever it looks like HTML, so node names,
    metadata and messages from a model (``<img src=x>``) are escaped before display.
    Lines are wrapped at ``columns`` characters and shown as they are (``pre``), so
    a long description never makes a tool tip wider than the screen.
    """
    if not text:
        return ""
    lines = "\n".join(html.escape(line) for line in wrap_lines(text, columns))
    return f"<p style='white-space:pre'>{lines}</p>"


def text_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A label that shows its text literally (never as HTML): for names, paths, messages."""
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def as_display(array: np.ndarray) -> np.ndarray:
    """float32 C-contiguous view of an array, copying only when needed."""
    return np.ascontiguousarray(array, dtype=np.float32)


def image_view(parent: QWidget | None = None) -> tuple[pg.GraphicsLayoutWidget, pg.ViewBox]:
    """A graphics widget with one aspect-locked, y-down view box."""
    configure_pyqtgraph()
    widget = pg.GraphicsLayoutWidget(parent)
    view = widget.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
    return widget, view


def colormap_combo(current: str, parent: QWidget | None = None) -> QComboBox:
    """A combo box of the engine's colormaps."""
    box = QComboBox(parent)
    box.addItems(list(COLORMAPS))
    box.setCurrentText(current)
    box.setToolTip(plain_tooltip("Colormap used for feature maps and heatmaps"))
    return box


class Throttle(QObject):
    """Coalesce rapid calls (slider drags) into at most one call per ``interval_ms``."""

    def __init__(self, callback: Callable[[], None], interval_ms: int = 30,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._callback = callback
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(callback)

    def __call__(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    @property
    def pending(self) -> bool:
        """Whether a call is waiting to run."""
        return self._timer.isActive()

    def flush(self) -> None:
        """Run a pending call now."""
        if self._timer.isActive():
            self._timer.stop()
            self._callback()
