"""Layer browser: every conv layer in graph order, grouped by stage."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from app.state import AppState
from app.views.common import plain_tooltip
from engine.types import LayerInfo

NAME_ROLE = Qt.ItemDataRole.UserRole
#: The layer-name column starts no wider than this (the user may widen it).
NAME_WIDTH = 260


def shape_text(shape: tuple[object, ...] | None) -> str:
    """``32×112×112`` from an (N, C, *spatial) shape, without the batch."""
    if shape is None:
        return "?"
    return "×".join("?" if d is None else str(d) for d in shape[1:])


def layer_tooltip(layer: LayerInfo) -> str:
    """Kernel, stride, groups and receptive field of a layer."""
    parts = [f"{layer.op_type} {layer.node_name}",
             f"kernel {'×'.join(map(str, layer.kernel)) or '?'}, stride "
             f"{'×'.join(map(str, layer.stride)) or '?'}, groups {layer.group}"]
    if layer.activation_op:
        parts.append(f"followed by {layer.activation_op}; shown after the activation")
    if layer.receptive_field is not None:
        rf = layer.receptive_field
        parts.append(f"receptive field {'×'.join(map(str, rf.size))} px, "
                     f"stride {'×'.join(map(str, rf.stride))}")
    if not layer.exposable:
        parts.append(f"cannot be shown: {layer.reason}")
    return "\n".join(parts)


class LayerTree(QTreeWidget):
    """Stages as top-level items, layers below; selecting a layer shows its mosaic."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._items: dict[str, QTreeWidgetItem] = {}
        self.setColumnCount(4)
        self.setHeaderLabels(["Layer", "Op", "Output", "Activity"])
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setToolTip(plain_tooltip(
            "Convolution layers in graph order; arrow keys move between layers"))
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        for column in (1, 2, 3):  # op, shape and activity always fit their text
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.currentItemChanged.connect(self._on_current)
        state.modelChanged.connect(self.rebuild)
        state.layersChanged.connect(self.update_shapes)
        state.mapsChanged.connect(self.update_activity)
        state.layerChanged.connect(self._select)

    def rebuild(self) -> None:
        """Recreate the tree from the model's layer catalogue."""
        self.blockSignals(True)
        self.clear()
        self._items.clear()
        stages: dict[int, QTreeWidgetItem] = {}
        grey = QBrush(QColor("#888888"))
        for layer in self.state.layers:
            parent = stages.get(layer.stage)
            if parent is None:
                title = f"Stage {layer.stage}" if layer.stage >= 0 else "Other"
                parent = QTreeWidgetItem(self, [title])
                parent.setFlags(parent.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                parent.setExpanded(True)
                stages[layer.stage] = parent
            op = layer.op_type + (f"+{layer.activation_op}" if layer.activation_op else "")
            if layer.group > 1:
                op += " dw" if layer.group == (layer.channels or 0) else f" g{layer.group}"
            item = QTreeWidgetItem(parent, [layer.name, op, shape_text(layer.shape),
                                            "" if layer.exposable else "not shown"])
            item.setData(0, NAME_ROLE, layer.name)
            item.setToolTip(0, plain_tooltip(layer_tooltip(layer)))
            if not layer.exposable:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                for column in range(4):
                    item.setForeground(column, grey)
                item.setToolTip(3, plain_tooltip(layer.reason))
            self._items[layer.name] = item
        for item in stages.values():
            item.setText(1, f"{item.childCount()} layers")
        self.resizeColumnToContents(0)
        self.setColumnWidth(0, min(NAME_WIDTH, self.columnWidth(0)))
        self.blockSignals(False)
        if self.state.layer_name:
            self._select(self.state.layer_name)

    def update_shapes(self) -> None:
        """Show each layer's output shape at the input size in use (symbolic dims resolved)."""
        for layer in self.state.layers:
            item = self._items.get(layer.name)
            if item is not None:
                item.setText(2, shape_text(layer.shape))
                item.setToolTip(0, plain_tooltip(layer_tooltip(layer)))

    def update_activity(self) -> None:
        """Show each computed layer's mean, zero fraction and dead channels."""
        maps = self.state.maps
        for item in self._items.values():
            item.setText(3, item.text(3) if item.text(3) == "not shown" else "")
        if maps is None:
            return
        for layer_maps in maps.layers:
            item = self._items.get(layer_maps.layer.name)
            if item is None:
                continue
            s = layer_maps.stats
            item.setText(2, "×".join(str(d) for d in layer_maps.data.shape))
            item.setText(3, f"mean {s.layer_mean:.3g}, {100 * s.layer_zero_fraction:.0f}% zero"
                         + (f", {s.dead_count} dead" if s.dead_count else ""))

    def _select(self, name: str) -> None:
        item = self._items.get(name)
        if item is not None and item is not self.currentItem():
            self.blockSignals(True)
            self.setCurrentItem(item)
            self.scrollToItem(item)
            self.blockSignals(False)

    def _on_current(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        if current is None:
            return
        name = current.data(0, NAME_ROLE)
        layer = self.state.layer_info(name) if isinstance(name, str) else None
        if layer is not None and layer.exposable:
            self.state.select_layer(layer.name)
