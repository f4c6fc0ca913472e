"""Compare two versions of a model: error against depth, and A, B and B − A side by side.

A standalone widget. :meth:`CompareView.set_result` shows a
:class:`engine.compare.ComparisonResult`: the accumulated and local relative L2
error of every matched pair against depth (log scale), the tolerance and the
first divergence marked. Selecting a pair (combo box, or a click on the chart)
emits :attr:`CompareView.pairSelected`; whoever owns the models computes the
pair's maps (``extract_feature_maps`` on A and on B for that one layer) and
hands them to :meth:`CompareView.show_pair_maps`, which draws A's mosaic, B's
mosaic (both on A's per-channel range) and B − A (symmetric range), with the
channels in index order or by per-channel error, largest first.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.views.common import (
    colormap_combo,
    configure_pyqtgraph,
    lut,
    plain_tooltip,
    text_label,
)
from engine.compare.types import ComparisonResult, PairResult
from engine.stats import as_images, grid_shape, mosaic

#: Errors below this are drawn at it (the chart is logarithmic; zero has no place on it).
ERROR_FLOOR = 1e-9
SORT_KEYS = ("channel index", "error (largest first)")
PAD = 1
ACCUMULATED_PEN = "#4fa3ff"
LOCAL_PEN = "#ffb347"
DIVERGENCE_PEN = "#ff5050"


def log_errors(values: list[float | None]) -> np.ndarray:
    """log10 of errors, floored at :data:`ERROR_FLOOR`; missing ones are NaN."""
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value is not None and not math.isnan(value):
            out[i] = math.log10(max(ERROR_FLOOR, value)) if math.isfinite(value) else 3.0
    return out


def channel_order(errors: np.ndarray, channels: int, key: str) -> np.ndarray:
    """Channel display order: by index, or by per-channel error, largest first."""
    if key != SORT_KEYS[1] or len(errors) != channels:
        return np.arange(channels)
    ranked = np.where(np.isnan(errors), -1.0, errors)
    return np.argsort(-ranked, kind="stable")


def comparison_mosaics(a: np.ndarray, b: np.ndarray, order: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Mosaics of A and B scaled to A's per-channel range, and B − A scaled to [0, 1].

    The difference mosaic maps 0 to 0.5 and the largest absolute difference to
    0 or 1; it is None when the maps have different shapes.
    """
    images_a = as_images(np.asarray(a, dtype=np.float32))
    images_b = as_images(np.asarray(b, dtype=np.float32))
    flat = images_a.reshape(len(images_a), -1)
    lo = flat.min(axis=1, initial=np.inf)[:, None, None] if flat.size else 0.0
    hi = flat.max(axis=1, initial=-np.inf)[:, None, None] if flat.size else 1.0
    span = np.where(hi > lo, hi - lo, 1.0)
    _, cols = grid_shape(len(order), images_a.shape[1], images_a.shape[2])
    tile_a = mosaic(np.clip((images_a - lo) / span, 0, 1), order, PAD, columns=cols)
    if images_b.shape != images_a.shape:
        return tile_a, mosaic(_own_range(images_b), None, PAD), None
    tile_b = mosaic(np.clip((images_b - lo) / span, 0, 1), order, PAD, columns=cols)
    diff = images_b - images_a
    largest = float(np.max(np.abs(diff), initial=0.0))
    scaled = diff / (2 * largest) + 0.5 if largest > 0 else np.full_like(diff, 0.5)
    return tile_a, tile_b, mosaic(scaled.astype(np.float32), order, PAD, columns=cols)


def _own_range(images: np.ndarray) -> np.ndarray:
    flat = images.reshape(len(images), -1)
    lo = flat.min(axis=1, initial=np.inf)[:, None, None]
    hi = flat.max(axis=1, initial=-np.inf)[:, None, None]
    scaled: np.ndarray = np.clip((images - lo) / np.where(hi > lo, hi - lo, 1.0), 0, 1)
    return scaled


class _Log10Axis(pg.AxisItem):  # type: ignore[misc]
    """An axis over log10 values, labelled as powers of ten."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [f"1e{round(v)}" if abs(v - round(v)) < 1e-6 else "" for v in values]


class CompareView(QWidget):
    """Error against depth of a comparison and the selected pair's maps side by side."""

    pairSelected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self.result: ComparisonResult | None = None
        self.selected: int | None = None
        self.maps: tuple[np.ndarray, np.ndarray] | None = None
        self.order = np.zeros(0, dtype=int)
        self.title = text_label("No comparison", self)
        self.title.setStyleSheet("font-weight: bold")
        self.summary = text_label("", self)
        self.summary.setWordWrap(True)
        self.chart = pg.PlotWidget(self, axisItems={"left": _Log10Axis("left")})
        plot = self.chart.getPlotItem()
        plot.setLabel("bottom", "depth (matched layer pairs in A's order)")
        plot.setLabel("left", "relative L2 error")
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.addLegend(offset=(10, 10))
        self.accumulated = plot.plot(pen=pg.mkPen(ACCUMULATED_PEN, width=2), connect="finite",
                                     name="accumulated (B end to end)")
        self.local = plot.plot(pen=pg.mkPen(LOCAL_PEN, width=2, style=Qt.PenStyle.DashLine),
                               connect="finite", name="local (B's layer on A's inputs)")
        self.points = pg.ScatterPlotItem(size=8, brush=pg.mkBrush(ACCUMULATED_PEN), pen=None)
        self.points.sigClicked.connect(self._point_clicked)
        plot.addItem(self.points)
        self.threshold = pg.InfiniteLine(angle=0, movable=False,
                                         pen=pg.mkPen("#909090", style=Qt.PenStyle.DotLine))
        self.divergence = pg.InfiniteLine(angle=90, movable=False,
                                          pen=pg.mkPen(DIVERGENCE_PEN, width=2))
        self.divergence_mark = pg.ScatterPlotItem(symbol="star", size=18, pen=None,
                                                  brush=pg.mkBrush(DIVERGENCE_PEN))
        self.selection_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#e0e0e0"))
        for item in (self.threshold, self.divergence, self.divergence_mark, self.selection_line):
            plot.addItem(item)
            item.setVisible(False)
        self.pairs = QComboBox(self)
        self.pairs.setToolTip("The layer pair whose maps are shown")
        self.sort = QComboBox(self)
        self.sort.addItems(list(SORT_KEYS))
        self.sort.setToolTip("Order the channels by index or by their relative L2 error")
        self.colormap = colormap_combo("viridis", self)
        self.pair_label = text_label("", self)
        self.pair_label.setWordWrap(True)
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.images: list[pg.ImageItem] = []
        self.views: list[pg.ViewBox] = []
        for col, caption in enumerate(("A (reference)", "B", "B − A")):
            self.graphics.addLabel(caption, row=0, col=col)
            view = self.graphics.addViewBox(row=1, col=col, lockAspect=True, invertY=True,
                                            enableMenu=False)
            image = pg.ImageItem(axisOrder="row-major")
            view.addItem(image)
            self.views.append(view)
            self.images.append(image)
        self.channels = pg.PlotWidget(self)
        self.channels.setFixedHeight(120)
        self.channels.getPlotItem().setLabel("left", "channel rel. L2")
        self.channels.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        self.channels.getPlotItem().setLabel("bottom", "channels in the mosaics' order")
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=LOCAL_PEN)
        self.channels.addItem(self.bars)

        controls = QHBoxLayout()
        for text, widget in (("Pair", self.pairs), ("Channels", self.sort),
                             ("Colormap", self.colormap)):
            controls.addWidget(QLabel(text, self))
            controls.addWidget(widget, 1 if widget is self.pairs else 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.summary)
        layout.addWidget(self.chart, 2)
        layout.addLayout(controls)
        layout.addWidget(self.pair_label)
        layout.addWidget(self.graphics, 3)
        layout.addWidget(self.channels)
        self.pairs.currentIndexChanged.connect(self._combo_changed)
        self.sort.currentTextChanged.connect(lambda _t: self._draw_maps())
        self.colormap.currentTextChanged.connect(lambda _t: self._draw_maps())

    def set_result(self, result: ComparisonResult) -> None:
        """Show a comparison; the first divergence (else the first pair) is selected."""
        self.result = result
        self.maps = None
        pairs = result.pairs
        depth = np.arange(len(pairs), dtype=float)
        accumulated = log_errors([p.rel_l2 for p in pairs])
        local = log_errors([p.local_rel_l2 for p in pairs])
        self.accumulated.setData(depth, accumulated, connect="finite")
        self.local.setData(depth, local, connect="finite")
        finite = np.isfinite(accumulated)
        self.points.setData(x=depth[finite], y=accumulated[finite],
                            data=np.arange(len(pairs))[finite])
        self.threshold.setValue(math.log10(max(ERROR_FLOOR, result.tolerance)))
        self.threshold.setVisible(True)
        first = result.first_divergence
        if first is not None:
            self.divergence.setValue(first)
            height = local[first] if np.isfinite(local[first]) else accumulated[first]
            self.divergence_mark.setData(x=[first], y=[height if np.isfinite(height) else 0.0])
        self.divergence.setVisible(first is not None)
        self.divergence_mark.setVisible(first is not None)
        self._fit_chart(len(pairs), np.concatenate([accumulated, local,
                                                    [self.threshold.value()]]))
        self.pairs.blockSignals(True)
        self.pairs.clear()
        for pair in pairs:
            label = pair.a if pair.a == pair.b else f"{pair.a} → {pair.b}"
            self.pairs.addItem(f"{pair.index}: {label} ({pair.match})")
        self.pairs.blockSignals(False)
        self.title.setText(f"{len(pairs)} matched layer pairs on {len(result.sources)} input"
                           f"{'s' if len(result.sources) != 1 else ''}")
        self.summary.setText(self._summary_text(result))
        self.summary.setToolTip(plain_tooltip("\n".join(result.notes)))
        if pairs:
            self.select_pair(first if first is not None else 0)

    def _fit_chart(self, count: int, heights: np.ndarray) -> None:
        """Show every pair and every drawn error (infinite lines have no extent of their own)."""
        finite = heights[np.isfinite(heights)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (-9.0, 0.0)
        plot = self.chart.getPlotItem()
        plot.setXRange(-0.5, max(0.5, count - 0.5), padding=0.02)
        plot.setYRange(low - 0.5, high + 0.5, padding=0.02)

    @staticmethod
    def _summary_text(result: ComparisonResult) -> str:
        first = result.divergent_pair()
        if first is None:
            text = (f"No layer's local error exceeds {result.tolerance:.3g} "
                    f"({result.tolerance_rule}).")
        else:
            text = (f"First divergence: {first.a} → {first.b}, local error "
                    f"{first.local_rel_l2:.3g} > {result.tolerance:.3g} ({result.tolerance_rule}).")
        outputs = result.outputs
        if outputs.top1_agreement is not None:
            text += f"  Outputs: top-1 agreement {outputs.top1_agreement:.0%}"
        elif outputs.max_abs is not None:
            text += f"  Outputs: max difference {outputs.max_abs:.3g}"
        return text + f".  Strategy: {result.strategy.name}."

    def select_pair(self, index: int) -> None:
        """Select pair ``index``: move the cursor, clear the maps and emit :attr:`pairSelected`."""
        if self.result is None or not 0 <= index < len(self.result.pairs):
            return
        changed = index != self.selected
        self.selected = index
        if self.pairs.currentIndex() != index:
            self.pairs.blockSignals(True)
            self.pairs.setCurrentIndex(index)
            self.pairs.blockSignals(False)
        self.selection_line.setValue(index)
        self.selection_line.setVisible(True)
        pair = self.result.pairs[index]
        self.pair_label.setText(self._pair_text(pair))
        if changed:
            self.maps = None
            self._draw_maps()
            self.pairSelected.emit(index)

    @staticmethod
    def _pair_text(pair: PairResult) -> str:
        def fmt(value: float | None) -> str:
            return "—" if value is None else f"{value:.3g}"

        parts = [f"{pair.a} → {pair.b} ({pair.match}"
                 + (f", CKA {pair.cka:.3f}" if pair.cka is not None else "") + ")",
                 f"max |B−A| {fmt(pair.max_abs)}", f"rel. L2 {fmt(pair.rel_l2)}",
                 f"cosine {fmt(pair.cosine)}", f"SNR {fmt(pair.snr_db)} dB",
                 f"local rel. L2 {fmt(pair.local_rel_l2)}"]
        return "   ".join(parts) + (f"\n{pair.note}" if pair.note else "")

    def show_pair_maps(self, index: int, a: np.ndarray, b: np.ndarray) -> None:
        """Draw the maps (C, *spatial, real values) of pair ``index`` of A and B.

        Maps for a pair that is no longer selected are ignored (a late worker).
        """
        if index != self.selected:
            return
        self.maps = (np.asarray(a), np.asarray(b))
        self._draw_maps()

    def _draw_maps(self) -> None:
        if self.result is None or self.selected is None or self.maps is None:
            for image in self.images:
                image.clear()
            self.bars.setOpts(x=[], height=[])
            return
        pair = self.result.pairs[self.selected]
        a, b = self.maps
        channels = as_images(np.asarray(a, dtype=np.float32)).shape[0]
        self.order = channel_order(pair.per_channel_rel_l2, channels, self.sort.currentText())
        tiles = comparison_mosaics(a, b, self.order)
        table = lut(self.colormap.currentText())
        for image, tile, colours in zip(self.images, tiles,
                                        (table, table, lut("coolwarm")), strict=True):
            if tile is None:
                image.clear()
            else:
                image.setImage(tile, levels=(0.0, 1.0), lut=colours, autoLevels=False)
        for view in self.views:
            view.autoRange(padding=0.01)
        errors = pair.per_channel_rel_l2
        if len(errors) == channels:
            shown = np.nan_to_num(errors[self.order], nan=0.0, posinf=0.0)
            self.bars.setOpts(x=np.arange(channels), height=shown)
        else:
            self.bars.setOpts(x=[], height=[])

    def _combo_changed(self, index: int) -> None:
        if index >= 0:
            self.select_pair(index)

    def _point_clicked(self, _item: object, points: list[object], *_event: object) -> None:
        if points:
            self.select_pair(int(points[0].data()))  # type: ignore[attr-defined]
