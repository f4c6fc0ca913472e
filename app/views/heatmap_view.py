"""Attribution heatmaps over the input: one large view and a comparison strip."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from app.state import AppState
from app.views.common import (
    Throttle,
    as_display,
    colormap_combo,
    configure_pyqtgraph,
    lut,
    plain_tooltip,
    text_label,
)
from engine.attribution.types import AttributionResult

MAX_COMPARE = 6


def heatmap_levels(heatmap: np.ndarray) -> tuple[float, float]:
    """Display levels of a heatmap: its finite min..max (never an empty range)."""
    finite = heatmap[np.isfinite(heatmap)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def short_layer(name: str) -> str:
    """``_blocks.15/_project_conv`` from ``/_blocks.15/_project_conv/Conv``."""
    return name.strip("/").removesuffix("/Conv") or name


def result_title(result: AttributionResult) -> str:
    """``Score-CAM · layer · class 285 (0.62) · 12.3 s``."""
    layer = f" · {short_layer(result.layer)}" if result.layer else ""
    return (f"{result.method}{layer} · class {result.target_index} "
            f"({result.target_score:.3g}) · {result.seconds:.1f} s")


class _Overlay:
    """An input image and a heatmap item in one view box."""

    def __init__(self, view: pg.ViewBox) -> None:
        self.view = view
        self.base = pg.ImageItem(axisOrder="row-major")
        self.heat = pg.ImageItem(axisOrder="row-major")
        view.addItem(self.base)
        view.addItem(self.heat)

    def show(self, display: np.ndarray | None, heatmap: np.ndarray, cmap: str,
             opacity: float) -> None:
        heat = as_display(heatmap)
        if display is not None:
            self.base.setImage(np.ascontiguousarray(display), levels=(0, 255), autoLevels=False)
            h, w = display.shape[:2]
        else:
            self.base.clear()
            h, w = heat.shape
        self.heat.setImage(heat, levels=heatmap_levels(heat), lut=lut(cmap), autoLevels=False)
        self.heat.setRect(QRectF(0, 0, w, h))
        self.heat.setOpacity(opacity if display is not None else 1.0)
        self.view.autoRange(padding=0.01)

    def clear(self) -> None:
        self.base.clear()
        self.heat.clear()


class HeatmapView(QWidget):
    """The current (or preview) heatmap large, previous results side by side below."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self.state = state
        self.shown: AttributionResult | None = None
        self.title = text_label("No attribution yet", self)
        self.title.setStyleSheet("font-weight: bold")
        self.title.setWordWrap(True)
        self.colormap = colormap_combo("inferno", self)
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(state.heatmap_opacity * 100))
        self.opacity.setToolTip("Opacity of the heatmap over the input")
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.main = _Overlay(self.graphics.addViewBox(lockAspect=True, invertY=True,
                                                      enableMenu=False))
        self.strip = pg.GraphicsLayoutWidget(self)
        self.strip.setFixedHeight(150)
        self.strip.setToolTip("Earlier results for comparison (newest first)")
        self._small: list[_Overlay] = []
        row = QHBoxLayout()
        row.addWidget(QLabel("Colormap", self))
        row.addWidget(self.colormap)
        row.addWidget(QLabel("Opacity", self))
        row.addWidget(self.opacity, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
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
        """Show one result large (a preview is labelled as such)."""
        self.shown = result
        prepared = self.state.prepared
        display = prepared.display if prepared is not None else None
        self.main.show(display, result.heatmap, self.colormap.currentText(),
                       self.state.heatmap_opacity)
        prefix = "Preview (Eigen-CAM) while the method runs: " if preview else ""
        notes = f"  —  {'; '.join(result.notes)}" if result.notes else ""
        self.title.setText(prefix + result_title(result) + notes)

    def redraw(self) -> None:
        """Re-apply colormap and opacity to every shown heatmap."""
        if self.shown is not None:
            self.show_result(self.shown)
        self._results_changed()

    def _results_changed(self) -> None:
        results = self.state.attributions[:MAX_COMPARE]
        if not results:
            self.shown = None
            self.main.clear()
            self.title.setText("No attribution yet")
        while len(self._small) < len(results):
            view = self.strip.addViewBox(row=0, col=len(self._small), lockAspect=True,
                                         invertY=True, enableMenu=False)
            self._small.append(_Overlay(view))
        prepared = self.state.prepared
        display = prepared.display if prepared is not None else None
        for i, small in enumerate(self._small):
            if i < len(results):
                small.show(display, results[i].heatmap, self.colormap.currentText(),
                           self.state.heatmap_opacity)
                small.view.setToolTip(plain_tooltip(result_title(results[i])))
            else:
                small.clear()
