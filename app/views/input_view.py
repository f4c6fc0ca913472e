"""The input as the model sees it, with what the model predicts drawn over it.

Boxes with their label and score (detectors, map regions), a map head's score
map as an overlay with its colour bar, the characters a CTC recogniser read
under the text line. Everything is drawn in the displayed image's coordinates
(model-input pixels, :mod:`app.views.overlay_geometry`). Clicking a box, a
character or a point of a map chooses the attribution target; dragging a
rectangle over a map output chooses the region it covers.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from app.state import AppState
from app.views.common import colormap, configure_pyqtgraph, lut, text_label
from app.views.overlay_geometry import (
    Box,
    box_at,
    cells_to_display,
    nearest_point,
    region_cells,
    to_display_box,
    to_display_point,
)
from engine.attribution.target_text import parse_target
from engine.errors import InputError
from engine.heads import PredictionItem

MAX_BOXES = 60
PALETTE = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176", "#4db6ac",
           "#f06292", "#a1887f", "#90a4ae")
CHOSEN = "#ffffff"


def map_channels(value: np.ndarray) -> np.ndarray | None:
    """A channels-first batch-1 map output as float32 [C, H', W'] (None if it is not one).

    Channels-last maps are not offered: a region target reads channels first.
    """
    if value.ndim == 3:
        return np.asarray(value[:1], dtype=np.float32)
    if value.ndim == 4 and not (int(value.shape[3]) <= 4 < min(value.shape[1:3])):
        return np.asarray(value[0], dtype=np.float32)
    return None


class _DragBox(pg.ViewBox):
    """A view box that, when ``drag_enabled``, draws a rectangle with the left button."""

    def __init__(self, on_drag: object) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.drag_enabled = False
        self._on_drag = on_drag
        self.rubber = QGraphicsRectItem()
        self.rubber.setPen(pg.mkPen("#ffffff", width=1, style=Qt.PenStyle.DashLine))
        self.rubber.setZValue(20)
        self.rubber.hide()
        self.addItem(self.rubber, ignoreBounds=True)

    def mouseDragEvent(self, ev: object, axis: object = None) -> None:
        if not self.drag_enabled or ev.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()  # type: ignore[attr-defined]
        start = self.mapSceneToView(ev.buttonDownScenePos())  # type: ignore[attr-defined]
        end = self.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
        rect = QRectF(start, end).normalized()
        self.rubber.setRect(rect)
        self.rubber.setVisible(not ev.isFinish())  # type: ignore[attr-defined]
        if ev.isFinish():  # type: ignore[attr-defined]
            self._on_drag((rect.left(), rect.top(), rect.right(), rect.bottom()))  # type: ignore[operator]


class InputView(QWidget):
    """The prepared input with the model's predictions over it; clicks choose the target."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self.state = state
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setMinimumHeight(160)
        self.view = _DragBox(self.drag_region)
        self.graphics.addItem(self.view, row=0, col=0)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.score = pg.ImageItem(axisOrder="row-major")
        self.score.setOpacity(0.55)
        self.view.addItem(self.image)
        self.view.addItem(self.score)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=colormap("inferno"),
                                        interactive=False, width=12, colorMapMenu=False)
        self.colorbar.hide()
        self.outlines = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen("#4fc3f7", width=1.5))
        self.chosen = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(CHOSEN, width=3))
        self.points = pg.ScatterPlotItem(size=6, pen=pg.mkPen("#ffb74d"), brush=None)
        for item in (self.outlines, self.chosen, self.points):
            self.view.addItem(item)
        self._labels: list[pg.TextItem] = []
        self._boxes: list[Box] = []
        self._box_items: list[PredictionItem] = []
        self._points: list[tuple[float, float]] = []
        self._point_items: list[PredictionItem] = []
        self._map_size: tuple[int, int] | None = None
        self._map_channel = 0
        self.reading = text_label("", self)
        self.reading.setWordWrap(True)
        self.reading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reading.setStyleSheet("font-size: 15px")
        self.reading.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.reading)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)
        state.inputChanged.connect(self.refresh)
        state.predictionsChanged.connect(self.refresh)
        state.mapsChanged.connect(self.refresh)
        state.targetChanged.connect(self._draw_chosen)

    # -- drawing -------------------------------------------------------------------------
    def display_size(self) -> tuple[int, int] | None:
        """(height, width) of the displayed input, if any."""
        prepared = self.state.prepared
        if prepared is None or prepared.display is None:
            return None
        return int(prepared.display.shape[0]), int(prepared.display.shape[1])

    def refresh(self) -> None:
        """Redraw the input and everything predicted on it."""
        prepared = self.state.prepared
        if prepared is not None and prepared.display is not None:
            self.image.setImage(np.ascontiguousarray(prepared.display), levels=(0, 255),
                                autoLevels=False)
        else:
            self.image.clear()
        self._draw_predictions()
        self._draw_score_map()
        self._draw_chosen()
        self.view.autoRange(padding=0.02)

    def _clear_labels(self) -> None:
        for label in self._labels:
            self.view.removeItem(label)
        self._labels.clear()

    def _label(self, text: str, x: float, y: float, color: str,
               anchor: tuple[float, float]) -> None:
        item = pg.TextItem(html=f"<span style='color:{color}; background:rgba(0,0,0,150)'>"
                           f"{html.escape(text)}</span>", anchor=anchor)
        item.setPos(x, y)
        self.view.addItem(item)
        self._labels.append(item)

    def _draw_predictions(self) -> None:
        self._clear_labels()
        self._boxes, self._box_items, self._points, self._point_items = [], [], [], []
        self.reading.hide()
        predicted, size = self.state.predicted, self.display_size()
        transform = self.state.prepared.transform if self.state.prepared else None
        if predicted is None or size is None or predicted.head.kind == "classifier":
            self.outlines.setData([], [])
            self.points.clear()
            return
        kind = predicted.head.kind
        for item in predicted.items:
            if kind == "ctc" and item.text is not None:
                self._show_reading(item)
            elif item.box is not None and len(self._boxes) < MAX_BOXES:
                self._boxes.append(to_display_box(item.box, transform))
                self._box_items.append(item)
            elif item.point is not None:
                self._points.append(to_display_point(item.point, transform))
                self._point_items.append(item)
        xs, ys = _outline_segments(self._boxes)
        self.outlines.setData(xs, ys)
        for box, item in zip(self._boxes, self._box_items, strict=True):
            color = PALETTE[(item.class_index or 0) % len(PALETTE)]
            self._label(f"{item.label} {item.score:.2f}", box[0], box[1], color, (0, 1))
        if self._points:
            pts = np.array(self._points)
            self.points.setData(x=pts[:, 0], y=pts[:, 1])
        else:
            self.points.clear()
        if kind == "ctc":  # the characters under the line, where they were read
            height = size[0]
            for (x, _y), item in zip(self._points, self._point_items, strict=True):
                self._label(item.label, x, height + 2, "#ffe082", (0.5, 0))

    def _show_reading(self, line: PredictionItem) -> None:
        text = line.text or ""
        self.reading.setText(f"Reads: “{text}”  (mean confidence {line.score:.2f})" if text
                             else "Reads nothing: no character above the blank")
        self.reading.show()

    def _draw_score_map(self) -> None:
        predicted, maps, size = self.state.predicted, self.state.maps, self.display_size()
        self._map_size = None
        self.view.drag_enabled = False
        if predicted is None or predicted.head.kind != "map" or maps is None or size is None:
            self.score.clear()
            self._hide_colorbar()
            return
        outputs = dict(maps.outputs)
        value = outputs.get(predicted.head.output)
        channels = map_channels(np.asarray(value)) if value is not None else None
        if channels is None:
            self.score.clear()
            self._hide_colorbar()
            return
        top = predicted.items[0].class_index if predicted.items else 0
        channel = min(max(0, top or 0), channels.shape[0] - 1)
        if channels.shape[0] == 2 and top is None:
            channel = 1
        heat = np.ascontiguousarray(channels[channel])
        lo, hi = float(np.nanmin(heat)), float(np.nanmax(heat))
        levels = (lo, hi if hi > lo else lo + 1.0)
        self.score.setImage(heat, levels=levels, lut=lut("inferno"), autoLevels=False)
        self.score.setRect(QRectF(0, 0, size[1], size[0]))
        self._map_size = (int(heat.shape[0]), int(heat.shape[1]))
        self._map_channel = channel
        self.view.drag_enabled = True
        if self.colorbar.scene() is None:
            self.graphics.addItem(self.colorbar, row=0, col=1)
        self.colorbar.show()
        self.colorbar.setLevels(levels)
        self.colorbar.setToolTip(f"{predicted.head.output}, channel {channel}")

    def _hide_colorbar(self) -> None:
        if self.colorbar.scene() is not None:
            self.graphics.removeItem(self.colorbar)
        self.colorbar.hide()

    def _draw_chosen(self) -> None:
        """Outline the chosen target: its box, or the cells of a region."""
        item = self.state.prediction()
        size = self.display_size()
        transform = self.state.prepared.transform if self.state.prepared else None
        box: Box | None = None
        if item is not None and item.box is not None and \
                (self.state.predicted is None or self.state.predicted.head.kind != "ctc"
                 or item.text is None):
            box = to_display_box(item.box, transform)
        elif item is None and self.state.target and self._map_size and size:
            try:
                target = parse_target(self.state.target)
            except InputError:
                target = None
            if target is not None and target.box is not None:
                box = cells_to_display(target.box, size, self._map_size)
        xs, ys = _outline_segments([box] if box else [])
        self.chosen.setData(xs, ys)

    # -- choosing a target ------------------------------------------------------------------
    def target_at(self, x: float, y: float) -> str | None:
        """The target text of what lies at display pixel (x, y), if anything."""
        if self._point_items and self.state.predicted is not None:
            size = self.display_size()
            step = (size[1] / max(1, len(self._points))) if size else 8.0
            radius = max(6.0, step)
            if self.state.predicted.head.kind == "ctc":  # anywhere in the character's column
                hit = nearest_point([(px, 0.0) for px, _ in self._points], x, 0.0, radius)
            else:
                hit = nearest_point(self._points, x, y, radius)
            if hit is not None:
                return self._point_items[hit].target
        hit = box_at(self._boxes, x, y)
        if hit is not None:
            return self._box_items[hit].target
        size = self.display_size()
        if self._map_size is not None and size is not None and \
                0 <= x < size[1] and 0 <= y < size[0]:
            return self.region_target(region_cells((x, y, x, y), size, self._map_size))
        return None

    def region_target(self, cells: tuple[int, int, int, int]) -> str | None:
        """``OUTPUT:C@y0,x0,y1,x1`` for cells of the shown map output."""
        predicted = self.state.predicted
        if predicted is None or self._map_size is None:
            return None
        return f"{predicted.head.output}:{self._map_channel}@" + ",".join(map(str, cells))

    def drag_region(self, rect: Box) -> None:
        """A rectangle dragged over a map output: its cells become the target."""
        size = self.display_size()
        if self._map_size is None or size is None:
            return
        target = self.region_target(region_cells(rect, size, self._map_size))
        if target is not None:
            self.state.choose_target(target)

    def _on_click(self, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        pos = event.scenePos()  # type: ignore[attr-defined]
        if not self.view.sceneBoundingRect().contains(pos):
            return
        point = self.view.mapSceneToView(pos)
        target = self.target_at(point.x(), point.y())
        if target is not None:
            self.state.choose_target(target)

    def scene_position(self, x: float, y: float) -> QPointF:
        """Scene position of display pixel (x, y) (for tests and scripts)."""
        return self.view.mapViewToScene(QPointF(x, y))


def _outline_segments(boxes: list[Box]) -> tuple[np.ndarray, np.ndarray]:
    """x and y arrays of the four edges of every box, as pairs for ``connect='pairs'``."""
    xs: list[float] = []
    ys: list[float] = []
    for x0, y0, x1, y1 in boxes:
        xs += [x0, x1, x1, x1, x1, x0, x0, x0]
        ys += [y0, y0, y0, y1, y1, y1, y1, y0]
    return np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)
