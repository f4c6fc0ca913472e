"""Attribution heatmaps over the input: one large view with its colour scale, and a strip
of earlier results, each labelled with method, layer and target."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from app.state import AppState
from app.views.common import (
    Throttle,
    as_display,
    colormap,
    colormap_combo,
    configure_pyqtgraph,
    lut,
    plain_tooltip,
    text_label,
)
from app.views.result_text import (
    caption,
    explained_words,
    flatness,
    method_title,
    result_sentence,
    short_layer,
)
from engine.attribution.types import AttributionResult

MAX_COMPARE = 6
CAPTION_CHARS = 18
PREVIEW_PREFIX = "Preview (Eigen-CAM) while the method runs: "


def heatmap_levels(heatmap: np.ndarray) -> tuple[float, float]:
    """Display levels of a heatmap: its finite min..max (never an empty range)."""
    finite = heatmap[np.isfinite(heatmap)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _elide(text: str, end: bool = False) -> str:
    if len(text) <= CAPTION_CHARS:
        return text
    return "…" + text[-(CAPTION_CHARS - 1):] if end else text[:CAPTION_CHARS - 1] + "…"


def caption_html(result: AttributionResult, words: str) -> str:
    """A thumbnail's label in three short lines: method, layer (its end), target."""
    lines = [_elide(method_title(result.method)),
             _elide(short_layer(result.layer), end=True) if result.layer else "no layer",
             _elide(words)]
    return "<br>".join(html.escape(line) for line in lines)  # LabelItem renders HTML


class _Overlay:
    """An input image and a heatmap item in one view box."""

    def __init__(self, view: pg.ViewBox) -> None:
        self.view = view
        self.base = pg.ImageItem(axisOrder="row-major")
        self.heat = pg.ImageItem(axisOrder="row-major")
        view.addItem(self.base)
        view.addItem(self.heat)

    def show(self, display: np.ndarray | None, heatmap: np.ndarray, cmap: str,
             opacity: float) -> tuple[float, float]:
        heat = as_display(heatmap)
        if display is not None:
            self.base.setImage(np.ascontiguousarray(display), levels=(0, 255), autoLevels=False)
            h, w = display.shape[:2]
        else:
            self.base.clear()
            h, w = heat.shape
        levels = heatmap_levels(heat)
        self.heat.setImage(heat, levels=levels, lut=lut(cmap), autoLevels=False)
        self.heat.setRect(QRectF(0, 0, w, h))
        self.heat.setOpacity(opacity if display is not None else 1.0)
        self.view.autoRange(padding=0.01)
        return levels

    def clear(self) -> None:
        self.base.clear()
        self.heat.clear()


class HeatmapView(QWidget):
    """The current (or preview) heatmap large with a colour bar; earlier results below."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self.state = state
        self.shown: AttributionResult | None = None
        self.previewing = False
        self.title = text_label("No attribution yet", self)
        self.title.setStyleSheet("font-weight: bold")
        self.title.setWordWrap(True)
        self.warning = text_label("", self)
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #ffcc66")
        self.warning.hide()
        self.colormap = colormap_combo("inferno", self)
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(state.heatmap_opacity * 100))
        self.opacity.setToolTip(plain_tooltip("Opacity of the heatmap over the input"))
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.main = _Overlay(self.graphics.addViewBox(row=0, col=0, lockAspect=True,
                                                      invertY=True, enableMenu=False))
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=colormap("inferno"),
                                        interactive=False, width=12, colorMapMenu=False,
                                        label="attribution (raw values)")
        self.graphics.addItem(self.colorbar, row=0, col=1)
        self.strip = pg.GraphicsLayoutWidget(self)
        self.strip.setFixedHeight(170)
        self.strip.setToolTip(plain_tooltip("Earlier results for comparison (newest first)"))
        self._small: list[_Overlay] = []
        self._captions: list[pg.LabelItem] = []
        row = QHBoxLayout()
        row.addWidget(QLabel("Colormap", self))
        row.addWidget(self.colormap)
        row.addWidget(QLabel("Opacity", self))
        row.addWidget(self.opacity, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.warning)
        layout.addLayout(row)
        layout.addWidget(self.graphics, 3)
        layout.addWidget(self.strip)
        self._throttle = Throttle(self._store_opacity, 30, self)
        self.opacity.valueChanged.connect(lambda _v: self._throttle())
        self.colormap.currentTextChanged.connect(lambda _t: self.redraw())
        state.attributionsChanged.connect(self._results_changed)
        state.opacityChanged.connect(self._apply_opacity)

    def _store_opacity(self) -> None:
        self.state.set_opacity(heatmap=self.opacity.value() / 100.0)

    def _apply_opacity(self) -> None:
        """Re-blend the shown heatmaps at the state's opacity (and show it on the slider)."""
        value = self.state.heatmap_opacity
        if self.opacity.value() != round(value * 100) and not self._throttle.pending:
            self.opacity.blockSignals(True)
            self.opacity.setValue(round(value * 100))
            self.opacity.blockSignals(False)
        has_input = self.state.prepared is not None and self.state.prepared.display is not None
        for overlay in (self.main, *self._small):
            overlay.heat.setOpacity(value if has_input else 1.0)

    def show_result(self, result: AttributionResult, preview: bool = False) -> None:
        """Show one result large with its colour scale (a preview is labelled as such)."""
        self.shown, self.previewing = result, preview
        prepared = self.state.prepared
        display = prepared.display if prepared is not None else None
        cmap = self.colormap.currentText()
        levels = self.main.show(display, result.heatmap, cmap, self.state.heatmap_opacity)
        self.colorbar.setColorMap(colormap(cmap))
        self.colorbar.setLevels(levels)
        sentence = result_sentence(result, explained_words(self.state, result))
        self.title.setText((PREVIEW_PREFIX if preview else "") + sentence)
        # a finished result is said once, in the panel's result line; a preview says so here
        self.title.setVisible(preview)
        self.title.setToolTip(plain_tooltip(result.layer or ""))
        empty = flatness(result.heatmap)
        self.warning.setText(empty)
        self.warning.setVisible(bool(empty))

    def drop_preview(self) -> None:
        """The method stopped: a preview shown in its place goes (the last result returns)."""
        if not self.previewing:
            return
        self.previewing = False
        if self.state.attributions:
            self.show_result(self.state.attributions[0])
        else:
            self._clear_main()

    def _clear_main(self) -> None:
        self.shown = None
        self.main.clear()
        self.title.setText("No attribution yet")
        self.title.show()
        self.title.setToolTip("")
        self.warning.hide()

    def redraw(self) -> None:
        """Re-apply colormap and opacity to every shown heatmap."""
        if self.shown is not None:
            self.show_result(self.shown, self.previewing)
        self._results_changed()

    def _results_changed(self) -> None:
        results = self.state.attributions[:MAX_COMPARE]
        if not results and not self.previewing:
            self._clear_main()
        while len(self._small) < len(results):
            col = len(self._small)
            view = self.strip.addViewBox(row=0, col=col, lockAspect=True, invertY=True,
                                         enableMenu=False)
            self._small.append(_Overlay(view))
            label = pg.LabelItem("", size="8pt", justify="center")
            self.strip.addItem(label, row=1, col=col)
            self._captions.append(label)
        prepared = self.state.prepared
        display = prepared.display if prepared is not None else None
        for i, (small, label) in enumerate(zip(self._small, self._captions, strict=True)):
            if i < len(results):
                words = caption(results[i], explained_words(self.state, results[i]))
                small.show(display, results[i].heatmap, self.colormap.currentText(),
                           self.state.heatmap_opacity)
                small.view.setToolTip(plain_tooltip(words))
                label.setText(caption_html(results[i], explained_words(self.state,
                                                                       results[i])))
            else:
                small.clear()
                small.view.setToolTip("")
                label.setText("")
