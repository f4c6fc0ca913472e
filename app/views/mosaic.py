"""A layer's channels as one mosaic in one pyqtgraph ImageItem, with hover and click."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.state import NORMALIZATIONS, SORT_KEYS, AppState
from app.views.common import (
    colormap,
    colormap_combo,
    configure_pyqtgraph,
    lut,
    plain_tooltip,
    text_label,
)
from engine.stats import as_images, grid_shape, mosaic, mosaic_cell, normalize, sort_order
from engine.types import LayerMaps

PAD = 1


@dataclass(frozen=True)
class MosaicLayout:
    """Where each channel sits in a mosaic."""

    image: np.ndarray
    order: np.ndarray
    columns: int
    tile: tuple[int, int]
    images: np.ndarray

    def channel_at(self, row: int, col: int) -> tuple[int, int, int] | None:
        """(channel, y, x inside the tile) under a mosaic pixel, or None on padding."""
        slot = mosaic_cell(row, col, self.tile, self.columns, PAD)
        if slot is None or slot >= len(self.order):
            return None
        h, w = self.tile
        return int(self.order[slot]), row % (h + PAD), col % (w + PAD)

    def tile_center(self, slot: int) -> tuple[float, float]:
        """(x, y) of a slot's centre in mosaic pixels."""
        h, w = self.tile
        r, c = divmod(slot, self.columns)
        return c * (w + PAD) + w / 2.0, r * (h + PAD) + h / 2.0


def build_layout(maps: LayerMaps, normalization: str, sort_key: str,
                 fixed: tuple[float, float]) -> MosaicLayout:
    """Normalise, order and tile a layer's channels with the engine's functions."""
    images = as_images(maps.data)
    shown = normalize(images, normalization, fixed)  # type: ignore[arg-type]
    order = sort_order(maps.stats, sort_key)
    c, h, w = shown.shape
    _, cols = grid_shape(c, h, w)
    tile = mosaic(shown, order, pad=PAD, columns=cols)
    return MosaicLayout(tile, order, cols, (h, w), images)


class MosaicView(QWidget):
    """Channel mosaic of the selected layer; hover shows channel and value, click opens it."""

    rendered = Signal(float)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.layout_: MosaicLayout | None = None
        self.last_render_ms = 0.0
        self._cache: OrderedDict[tuple[object, ...], MosaicLayout] = OrderedDict()
        self._shape: tuple[int, ...] | None = None

        self.colormap = colormap_combo(state.colormap, self)
        self.normalization = QComboBox(self)
        self.normalization.addItems(list(NORMALIZATIONS))
        self.normalization.setCurrentText(state.normalization)
        self.normalization.setToolTip(plain_tooltip(
            "channel: each channel to its own range; layer: one range "
            "for the layer; fixed: the range 0..6 (ReLU6)"))
        self.sort = QComboBox(self)
        self.sort.addItems(list(SORT_KEYS))
        self.sort.setCurrentText(state.sort_key)
        self.sort.setToolTip(plain_tooltip(
            "Order channels by index, or by descending mean, max or sparsity"))
        self.hover = text_label("", self)
        self.hover.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # the read-out changes with every mouse move: it must never resize the layout
        self.hover.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.hover.setMinimumWidth(0)
        self.title = text_label("No layer", self)
        self.title.setStyleSheet("font-weight: bold")
        self.title.setWordWrap(True)

        bar = QHBoxLayout()
        for text, widget in (("Colormap", self.colormap), ("Normalise", self.normalization),
                             ("Sort", self.sort)):
            bar.addWidget(QLabel(text, self))
            bar.addWidget(widget)
        bar.addWidget(self.hover, 1)
        configure_pyqtgraph()
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.view = self.graphics.addViewBox(row=0, col=0, lockAspect=True, invertY=True,
                                             enableMenu=False)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=colormap(state.colormap),
                                        interactive=False, width=12, colorMapMenu=False)
        self.graphics.addItem(self.colorbar, row=0, col=1)
        self.graphics.setToolTip(plain_tooltip("Click a channel to open it"))
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.dead = pg.ScatterPlotItem(symbol="x", size=9, pen=pg.mkPen("#ff5050", width=2),
                                       brush=None)
        self.view.addItem(self.dead)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addLayout(bar)
        layout.addWidget(self.graphics, 1)

        self.colormap.currentTextChanged.connect(lambda v: state.set_display(colormap=v))
        self.normalization.currentTextChanged.connect(
            lambda v: state.set_display(normalization=v))
        self.sort.currentTextChanged.connect(lambda v: state.set_display(sort_key=v))
        state.layerChanged.connect(lambda _name: self.refresh())
        state.mapsChanged.connect(self._maps_changed)
        state.displayChanged.connect(self._display_changed)
        self.graphics.scene().sigMouseMoved.connect(self._on_move)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)

    def _maps_changed(self) -> None:
        self._cache.clear()
        self.refresh()

    def _display_changed(self) -> None:
        for box, value in ((self.colormap, self.state.colormap),
                           (self.normalization, self.state.normalization),
                           (self.sort, self.state.sort_key)):
            if box.currentText() != value:
                box.blockSignals(True)
                box.setCurrentText(value)
                box.blockSignals(False)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the mosaic of the selected layer (cached per display setting)."""
        t0 = time.perf_counter()
        self.hover.setText("")  # a read-out of the previous picture would not be true here
        maps = self.state.current_maps()
        if maps is None:
            self.layout_ = None
            self.image.clear()
            self.dead.clear()
            if self.state.model is None:
                self.title.setText("No model")
            elif not any(layer.exposable for layer in self.state.layers):
                self.title.setText("This model has no convolution layer that can be shown")
            else:
                self.title.setText("No feature maps yet")
            return
        key = (maps.layer.name, self.state.normalization, self.state.sort_key,
               self.state.fixed_range, id(self.state.maps))
        layout = self._cache.get(key)
        if layout is None:
            layout = build_layout(maps, self.state.normalization, self.state.sort_key,
                                  self.state.fixed_range)
            self._cache[key] = layout
            while len(self._cache) > 8:
                self._cache.popitem(last=False)
        self.layout_ = layout
        self.image.setImage(layout.image, levels=(0.0, 1.0), lut=lut(self.state.colormap),
                            autoLevels=False)
        self._scale(maps)
        dead_slots = [slot for slot, ch in enumerate(layout.order) if maps.stats.dead[ch]]
        if dead_slots:
            xy = np.array([layout.tile_center(s) for s in dead_slots])
            self.dead.setData(x=xy[:, 0], y=xy[:, 1])
        else:
            self.dead.clear()
        if self._shape != layout.image.shape:
            self._shape = layout.image.shape
            self.view.autoRange(padding=0.01)
        c = len(layout.order)
        h, w = layout.tile
        self.title.setText(f"{maps.layer.name}  —  {c} channels of {h}×{w}, "
                           f"{maps.stats.dead_count} dead (✕)")
        self.last_render_ms = (time.perf_counter() - t0) * 1000.0
        self.rendered.emit(self.last_render_ms)

    def _scale(self, maps: LayerMaps) -> None:
        """The colour bar in the values the colours stand for under the normalisation."""
        mode = self.state.normalization
        self.colorbar.setColorMap(colormap(self.state.colormap))
        if mode == "layer":
            lo, hi = float(maps.stats.layer_min), float(maps.stats.layer_max)
            text = "activation (one range for the layer)"
        elif mode == "fixed":
            lo, hi = self.state.fixed_range
            text = "activation (fixed range)"
        else:
            lo, hi = 0.0, 1.0
            text = "each channel: its min (0) to its max (1)"
        self.colorbar.setLevels((lo, hi if hi > lo else lo + 1.0))
        self.colorbar.axis.setLabel(text)

    def _channel_under(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        if self.layout_ is None or not self.view.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.view.mapSceneToView(scene_pos)
        row, col = int(np.floor(point.y())), int(np.floor(point.x()))
        rows, cols = self.layout_.image.shape
        if not (0 <= row < rows and 0 <= col < cols):
            return None
        return self.layout_.channel_at(row, col)

    def _on_move(self, scene_pos: QPointF) -> None:
        hit = self._channel_under(scene_pos)
        if hit is None or self.layout_ is None:
            self.hover.setText("")
            return
        channel, y, x = hit
        value = float(self.layout_.images[channel, y, x])
        self.hover.setText(f"channel {channel}  (y {y}, x {x})  value {value:.4g}")

    def _on_click(self, event: object) -> None:
        pos = event.scenePos()  # type: ignore[attr-defined]
        hit = self._channel_under(pos)
        if hit is not None:
            self.state.select_channel(hit[0])

    def channel_slot_position(self, channel: int) -> QPointF | None:
        """Scene position of a channel's tile centre (used by tests and shortcuts)."""
        if self.layout_ is None:
            return None
        slot = int(np.nonzero(self.layout_.order == channel)[0][0])
        x, y = self.layout_.tile_center(slot)
        return self.view.mapViewToScene(QPointF(x, y))
