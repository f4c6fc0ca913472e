"""Network overview: spatial size and channel count of every conv layer in graph order."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.state import AppState
from app.views.common import configure_pyqtgraph, plain_tooltip, text_label
from engine.types import LayerInfo


def layer_size(layer: LayerInfo) -> tuple[float, float]:
    """(largest spatial side, channels) of a layer; NaN where unknown."""
    spatial = [d for d in (layer.spatial_shape or ()) if isinstance(d, int)]
    side = float(max(spatial)) if spatial else float("nan")
    channels = float(layer.channels) if layer.channels else float("nan")
    return side, channels


def log2_ticks(values: np.ndarray, most: int = 6) -> list[tuple[float, str]]:
    """Tick positions (log2) labelled with the real values that occur, at most ``most``."""
    unique = np.unique(values[np.isfinite(values) & (values > 0)])
    if unique.size > most:
        unique = unique[np.linspace(0, unique.size - 1, most).round().astype(int)]
    return [(float(np.log2(v)), f"{v:g}") for v in unique]


class Overview(QWidget):
    """Two linked plots (spatial size, channels); click a point to open that layer."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self.state = state
        self._names: list[str] = []
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.size_plot = self.graphics.addPlot(row=0, col=0)
        self.size_plot.setLabel("left", "map side (px)")
        self.chan_plot = self.graphics.addPlot(row=1, col=0)
        self.chan_plot.setLabel("left", "channels")
        self.chan_plot.setLabel("bottom", "conv layer (graph order)")
        self.chan_plot.setXLink(self.size_plot)
        for plot in (self.size_plot, self.chan_plot):
            plot.showGrid(x=False, y=True, alpha=0.2)
            plot.setMenuEnabled(False)
            plot.hideButtons()
            # a chart of the whole network: clicks choose a layer, they never pan or zoom
            plot.setMouseEnabled(x=False, y=False)
        self.size_points = pg.ScatterPlotItem(size=8, brush=pg.mkBrush("#4fc3f7"), hoverable=True,
                                              tip=self._rich_tip)
        self.chan_points = pg.ScatterPlotItem(size=8, brush=pg.mkBrush("#ffb74d"), hoverable=True,
                                              tip=self._rich_tip)
        self.size_plot.addItem(self.size_points)
        self.chan_plot.addItem(self.chan_points)
        self.cursors = [pg.InfiniteLine(angle=90, pen=pg.mkPen("#e0e0e0", width=1))
                        for _ in range(2)]
        self.size_plot.addItem(self.cursors[0], ignoreBounds=True)
        self.chan_plot.addItem(self.cursors[1], ignoreBounds=True)
        self.info = text_label("", self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.info)
        self.setToolTip(plain_tooltip(
            "Each conv layer's map size and channel count; click a point to open it"))
        self.size_points.sigClicked.connect(self._clicked)
        self.chan_points.sigClicked.connect(self._clicked)
        state.modelChanged.connect(self.rebuild)
        state.layersChanged.connect(self.rebuild)
        state.layerChanged.connect(self._mark)

    def _tip(self, x: float, y: float, data: object) -> str:
        layer = self.state.layer_info(data) if isinstance(data, str) else None
        if layer is None:
            return ""
        rf = layer.receptive_field
        rf_text = f"RF {'×'.join(map(str, rf.size))}" if rf else "RF ?"
        side, channels = layer_size(layer)
        return f"{layer.name}\n{channels:.0f} ch, {side:.0f} px, {rf_text}"

    def _rich_tip(self, x: float, y: float, data: object) -> str:
        return plain_tooltip(self._tip(x, y, data))  # shown as a Qt tool tip (rich text)

    def rebuild(self) -> None:
        """Plot the model's layers."""
        layers = [la for la in self.state.layers if la.exposable]
        self._names = [la.name for la in layers]
        sizes = np.array([layer_size(la) for la in layers], dtype=np.float64).reshape(-1, 2)
        x = np.arange(len(layers), dtype=np.float64)
        names = np.array(self._names, dtype=object)
        for points, plot, column in ((self.size_points, self.size_plot, 0),
                                     (self.chan_points, self.chan_plot, 1)):
            ok = np.isfinite(sizes[:, column]) & (sizes[:, column] > 0)
            values = sizes[ok, column]
            # log2 scale drawn by hand: ScatterPlotItem ignores the plot's log mode
            points.setData(x=x[ok], y=np.log2(values), data=names[ok] if ok.any() else [])
            plot.getAxis("left").setTicks([log2_ticks(values)])
        self.show_all()
        self._mark(self.state.layer_name or "")

    def show_all(self) -> None:
        """Fit both plots to every layer."""
        for points, plot in ((self.size_points, self.size_plot),
                             (self.chan_points, self.chan_plot)):
            if len(points.data):
                plot.enableAutoRange()
                plot.autoRange(padding=0.05, items=[points])

    def _mark(self, name: str) -> None:
        if not name:
            self.info.setText("")
        if name in self._names:
            index = self._names.index(name)
            for line in self.cursors:
                line.setValue(index)
            layer = self.state.layer_info(name)
            if layer is not None:
                self.info.setText(self._tip(0, 0, name).replace("\n", "  —  "))

    def _clicked(self, _item: object, points: object, *_args: object) -> None:
        seq = list(points) if points is not None else []  # type: ignore[call-overload]
        if seq:
            name = seq[0].data()
            if isinstance(name, str):
                self.state.select_layer(name)
