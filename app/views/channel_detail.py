"""One channel large, overlaid on the input, with colour bar, histograms and statistics."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from app.state import AppState
from app.views.common import (
    Throttle,
    as_display,
    colormap,
    configure_pyqtgraph,
    lut,
    plain_tooltip,
    text_label,
)
from engine.stats import as_images

HIST_BINS = 64


def histogram(values: np.ndarray, bins: int = HIST_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of finite non-zero values (a display aid; not an engine statistic).

    Exact zeros (often most of a ReLU map) are left out; their share is in the statistics.
    """
    finite = values[np.isfinite(values) & (values != 0)]
    if finite.size == 0:
        return np.zeros(1), np.array([0.0, 1.0])
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        hi = lo + 1.0
    return np.histogram(finite, bins=bins, range=(lo, hi))


class ChannelDetail(QWidget):
    """The selected channel over the input image at adjustable opacity."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self.state = state
        self.title = text_label("Click a channel in the mosaic", self)
        self.title.setStyleSheet("font-weight: bold")
        self.title.setWordWrap(True)  # a long layer name must not widen the dock
        self.channel_box = QSpinBox(self)
        self.channel_box.setToolTip(plain_tooltip("Channel index (Alt+Left / Alt+Right)"))
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(state.opacity * 100))
        self.opacity.setToolTip(plain_tooltip("Opacity of the channel over the input image"))
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.view = self.graphics.addViewBox(row=0, col=0, lockAspect=True, invertY=True,
                                             enableMenu=False)
        self.base = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.base)
        self.view.addItem(self.overlay)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=colormap(state.colormap),
                                        interactive=False, width=14, colorMapMenu=False)
        self.graphics.addItem(self.colorbar, row=0, col=1)
        self.hist = self.graphics.addPlot(row=1, col=0, colspan=2)
        self.hist.setLabel("bottom", "activation (exact zeros left out)")
        self.hist.setMaximumHeight(150)
        self.hist.setMenuEnabled(False)
        self.hist.addLegend(offset=(-5, 5))
        self.hist_layer = pg.PlotDataItem(stepMode="center", pen=pg.mkPen("#888888"),
                                          name="layer", fillLevel=0, brush=(120, 120, 120, 60))
        self.hist_channel = pg.PlotDataItem(stepMode="center", pen=pg.mkPen("#4fc3f7", width=2),
                                            name="channel")
        self.hist.addItem(self.hist_layer)
        self.hist.addItem(self.hist_channel)
        self.stats = text_label("", self)
        self.stats.setWordWrap(True)  # new numbers must not widen the dock
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(QLabel("Channel", self))
        row.addWidget(self.channel_box)
        row.addWidget(QLabel("Overlay opacity", self))
        row.addWidget(self.opacity, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.stats)
        self._opacity_throttle = Throttle(self._store_opacity, 30, self)
        self.opacity.valueChanged.connect(lambda _v: self._opacity_throttle())
        self.channel_box.valueChanged.connect(self._box_changed)
        state.channelChanged.connect(lambda _c: self.refresh())
        state.layerChanged.connect(lambda _n: self.refresh())
        state.mapsChanged.connect(self.refresh)
        state.displayChanged.connect(self.refresh)
        state.opacityChanged.connect(self._apply_opacity)

    def _box_changed(self, value: int) -> None:
        if value != self.state.channel and self.state.current_maps() is not None:
            self.state.select_channel(value)

    def _store_opacity(self) -> None:
        self.state.set_opacity(channel=self.opacity.value() / 100.0)

    def _overlay_opacity(self) -> float:
        return self.state.opacity if self.state.prepared is not None else 1.0

    def _apply_opacity(self) -> None:
        """Re-blend the overlay at the state's opacity (and show it on the slider)."""
        value = self.state.opacity
        if self.opacity.value() != round(value * 100) and not self._opacity_throttle.pending:
            self.opacity.blockSignals(True)
            self.opacity.setValue(round(value * 100))
            self.opacity.blockSignals(False)
        self.overlay.setOpacity(self._overlay_opacity())

    def refresh(self) -> None:
        """Redraw for the selected layer and channel."""
        maps, channel = self.state.current_maps(), self.state.channel
        prepared = self.state.prepared
        if prepared is not None and prepared.display is not None:
            self.base.setImage(np.ascontiguousarray(prepared.display), autoLevels=False,
                               levels=(0, 255))
        if maps is None or channel is None or not 0 <= channel < maps.data.shape[0]:
            self.overlay.clear()
            self.title.setText("Click a channel in the mosaic")
            return
        images = as_images(maps.data)
        image = as_display(images[channel])
        s = maps.stats
        lo, hi = float(s.min[channel]), float(s.max[channel])
        levels = (lo, hi if hi > lo else lo + 1.0)
        self.overlay.setImage(image, levels=levels, lut=lut(self.state.colormap), autoLevels=False)
        if prepared is not None and prepared.display is not None:
            h, w = prepared.display.shape[:2]
            self.overlay.setRect(QRectF(0, 0, w, h))
        else:
            self.overlay.setRect(QRectF(0, 0, image.shape[1], image.shape[0]))
        self.overlay.setOpacity(self._overlay_opacity())
        self.colorbar.setColorMap(colormap(self.state.colormap))
        self.colorbar.setLevels(levels)
        self.view.autoRange(padding=0.01)
        self.channel_box.blockSignals(True)
        self.channel_box.setRange(0, maps.data.shape[0] - 1)
        self.channel_box.setValue(channel)
        self.channel_box.blockSignals(False)
        counts, edges = histogram(maps.data[channel])
        lcounts, ledges = histogram(maps.data)
        scale = counts.max() / max(1.0, float(lcounts.max())) if counts.max() > 0 else 1.0
        self.hist_layer.setData(ledges, lcounts * scale)
        self.hist_channel.setData(edges, counts)
        dead = " — dead (constant)" if s.dead[channel] else ""
        self.title.setText(f"{maps.layer.name}  channel {channel}{dead}")
        self.stats.setText(
            f"min {lo:.4g}   max {hi:.4g}   mean {s.mean[channel]:.4g}   std {s.std[channel]:.4g}"
            f"   zeros {100 * s.zero_fraction[channel]:.1f}%   |   layer min {s.layer_min:.4g} "
            f"max {s.layer_max:.4g} mean {s.layer_mean:.4g}")
