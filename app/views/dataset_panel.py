"""Dataset panel: scan a folder (progress, ETA, cancel) and see what a channel detects.

Choose a folder of images and scan it with the current model (or open an
existing scan); selecting a channel shows its top-k examples as a grid of
crops, the receptive field around each arg-max with the channel's activation
drawn over it and the score under it. Clicking a crop emits :attr:`DatasetPanel.
openImage` with its path. Channels can be listed by dataset statistics;
:attr:`DatasetPanel.channelOrderChanged` carries that order for a mosaic.

The scan and the crops run on the panel's own job runners (a scan takes minutes
and must not hold up the window's feature maps); :meth:`shutdown` stops them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, QStandardPaths, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.jobs import JobContext, JobRunner
from app.notify import Notifier
from app.views.common import plain_tooltip, text_label
from engine.errors import EngineError
from engine.model_io import LoadedModel, load_model
from engine.scan import (
    ChannelStatistics,
    Example,
    ScanRequest,
    ScanStore,
    ScanSummary,
    channel_statistics,
    example_crops,
    read_examples,
    run_scan,
)
from engine.scan.records import SORT_KEYS
from engine.types import Progress

#: Crop tiles are drawn at most this many pixels on a side.
TILE = 132
COLUMNS = 4
_SORT_TITLES = {"index": "channel index", "max": "largest score", "mean": "mean score",
                "variance": "score variance", "fire_fraction": "fraction firing",
                "activation": "mean activation"}


@dataclass(frozen=True)
class ExampleTile:
    """One crop ready to draw (uint8 RGB, or None when the image is gone)."""

    example: Example
    crop: np.ndarray | None


def default_scan_folder(images: str | os.PathLike[str], model: str | os.PathLike[str]) -> Path:
    """Where the panel keeps the scan of a folder with a model (the app's data folder)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    key = hashlib.sha256(f"{Path(images).absolute()}\0{Path(model).absolute()}".encode())
    return Path(base or Path.home()) / "scans" / f"{Path(images).name}-{key.hexdigest()[:10]}"


def _pixmap(rgb: np.ndarray) -> QPixmap:
    data = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = data.shape[:2]
    image = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    pixmap = QPixmap.fromImage(image.copy())
    mode = (Qt.TransformationMode.FastTransformation if max(width, height) < TILE
            else Qt.TransformationMode.SmoothTransformation)
    return pixmap.scaled(TILE, TILE, Qt.AspectRatioMode.KeepAspectRatio, mode)


def eta_words(seconds: float) -> str:
    """A short 'time left' text."""
    if not math.isfinite(seconds) or seconds < 0:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"about {hours} h {minutes:02d} min left"
    return f"about {minutes} min {secs:02d} s left" if minutes else f"about {secs} s left"


class DatasetPanel(QWidget):
    """Scan a folder with the model; browse each channel's top-k crops.

    Parameters
    ----------
    notifier
        Where job errors go (optional).
    parent
        The parent widget.
    """

    openImage = Signal(str)
    scanFinished = Signal(object)
    channelOrderChanged = Signal(str, object)
    examplesShown = Signal(str, int)

    def __init__(self, notifier: Notifier | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scan_jobs = JobRunner(notifier, self, progress_interval=0.1)
        self._view_jobs = JobRunner(notifier, self)
        self._model_path: str | None = None
        self._model: LoadedModel | None = None
        self._folder: str | None = None
        self._store: ScanStore | None = None
        self._scan_job: int | None = None
        self._view_job: int | None = None
        self._stats: ChannelStatistics | None = None
        self.shown: tuple[str, int] | None = None
        self.tiles: list[QToolButton] = []

        self.choose_button = QPushButton("Choose folder…", self)
        self.choose_button.setToolTip("The folder of images to scan (searched recursively)")
        self.open_button = QPushButton("Open scan…", self)
        self.open_button.setToolTip("Open a scan folder made earlier (or by featurescope scan)")
        self.scan_button = QPushButton("Scan", self)
        self.scan_button.setToolTip("Find every channel's top images in the folder; a scan "
                                    "that was stopped continues where it stopped")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setEnabled(False)
        self.folder_label = text_label("No folder chosen", self)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.status = text_label("", self)
        self.status.setWordWrap(True)
        self.layer = QComboBox(self)
        self.layer.setToolTip("Layer of the scan")
        self.sort = QComboBox(self)
        for key in SORT_KEYS:
            self.sort.addItem(_SORT_TITLES[key], key)
        self.sort.setToolTip("Order the channels by a statistic over the dataset")
        self.channels = QListWidget(self)
        self.channels.setToolTip("Channels of the layer; select one to see its top images")
        self.title = text_label("", self)
        self.title.setStyleSheet("font-weight: bold")
        self.grid_host = QWidget(self)
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)

        top = QHBoxLayout()
        for widget in (self.choose_button, self.open_button, self.scan_button,
                       self.cancel_button):
            top.addWidget(widget)
        top.addWidget(self.progress, 1)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.layer)
        left_layout.addWidget(self.sort)
        left_layout.addWidget(self.channels, 1)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.title)
        right_layout.addWidget(scroll, 1)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)

        self.choose_button.clicked.connect(self._choose_folder)
        self.open_button.clicked.connect(self._choose_scan)
        self.scan_button.clicked.connect(self.start_scan)
        self.cancel_button.clicked.connect(self.cancel_scan)
        self.layer.currentIndexChanged.connect(lambda _i: self._layer_changed())
        self.sort.currentIndexChanged.connect(lambda _i: self._fill_channels())
        self.channels.currentItemChanged.connect(self._channel_clicked)
        self._scan_jobs.progress.connect(self._on_progress)
        self._scan_jobs.finished.connect(self._on_scanned)
        self._scan_jobs.failed.connect(self._on_scan_failed)
        self._scan_jobs.cancelled.connect(self._on_scan_cancelled)
        self._view_jobs.finished.connect(self._on_examples)
        self._view_jobs.failed.connect(self._on_view_failed)
        self._update_buttons()

    # -- inputs -----------------------------------------------------------------------
    def set_model(self, path: str | os.PathLike[str] | None) -> None:
        """The model to scan with (and to draw activations with)."""
        self._model_path = None if path is None else str(path)
        self._model = None
        self._update_buttons()

    def set_folder(self, folder: str | os.PathLike[str]) -> None:
        """The folder of images to scan."""
        self._folder = str(folder)
        self.folder_label.setText(f"Images: {self._folder}")
        self._update_buttons()

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to scan")
        if folder:
            self.set_folder(folder)

    def _choose_scan(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a scan folder")
        if folder:
            self.open_scan(folder)

    def _update_buttons(self) -> None:
        running = self._scan_job is not None
        self.scan_button.setEnabled(not running and bool(self._folder and self._model_path))
        self.cancel_button.setEnabled(running)
        self.choose_button.setEnabled(not running)
        self.open_button.setEnabled(not running)

    # -- scanning ---------------------------------------------------------------------
    def start_scan(self, out: str | os.PathLike[str] | None = None, k: int = 16,
                   batch_size: int = 8, shard_size: int | None = None) -> int | None:
        """Scan the chosen folder with the model into ``out`` (default: the app's data).

        Returns the job id, or None when there is no folder or model or a scan runs.
        """
        if self._scan_job is not None or not self._folder or not self._model_path:
            return None
        target = Path(out) if out else default_scan_folder(self._folder, self._model_path)
        request = ScanRequest(self._model_path, (self._folder,), str(target), k=k,
                              batch_size=batch_size, shard_size=shard_size)

        def work(ctx: JobContext) -> ScanSummary:
            return run_scan(request, progress=ctx.progress, cancel=ctx.cancel)

        self._close_store()
        self.progress.setValue(0)
        self.status.setText("Starting the scan…")
        self._scan_job = self._scan_jobs.submit("scan", work, "Scanning the dataset")
        self._update_buttons()
        return self._scan_job

    def cancel_scan(self) -> None:
        """Stop the running scan (the committed part is kept; scanning again continues)."""
        if self._scan_job is not None:
            self._scan_jobs.cancel(self._scan_job)

    def _on_progress(self, job: int, _kind: str, progress: Progress) -> None:
        if job != self._scan_job:
            return
        self.progress.setValue(round(progress.fraction * 100))
        extra = dict(progress.extra)
        parts = [f"{progress.done} of {progress.total} images"]
        if extra.get("images_per_second", 0.0) > 0:
            parts.append(f"{extra['images_per_second']:.1f} images/s")
        left = eta_words(extra.get("eta_seconds", float("nan")))
        if left and progress.done < progress.total:
            parts.append(left)
        self.status.setText(", ".join(parts))

    def _on_scanned(self, job: int, _kind: str, summary: object) -> None:
        if job != self._scan_job:
            return
        self._scan_job = None
        self._update_buttons()
        assert isinstance(summary, ScanSummary)
        self.open_scan(summary.out)
        self.progress.setValue(100)
        skipped = f"; {len(summary.unreadable)} unreadable skipped" if summary.unreadable else ""
        notes = "".join(f"\nNote: {note}." for note in summary.notes)
        self.status.setText(f"{summary.readable} images scanned in {summary.seconds:.1f} s "
                            f"({summary.images_per_second:.1f} images/s){skipped}{notes}")
        self.status.setToolTip(plain_tooltip("\n".join(f"{p}: {r}" for p, r in
                                                       summary.unreadable)))
        self.scanFinished.emit(summary)

    def _on_scan_failed(self, job: int, _kind: str, error: object) -> None:
        if job != self._scan_job:
            return
        self._scan_job = None
        self._update_buttons()
        message = error.message if isinstance(error, EngineError) else str(error)
        self.status.setText(f"The scan failed: {message}")

    def _on_scan_cancelled(self, job: int, _kind: str) -> None:
        if job != self._scan_job:
            return
        self._scan_job = None
        self._update_buttons()
        self.status.setText("Scan stopped; scanning the folder again continues it.")

    # -- browsing ---------------------------------------------------------------------
    def open_scan(self, folder: str | os.PathLike[str]) -> bool:
        """Show a scan folder's layers and channels; False (with the reason shown) if unusable."""
        self._close_store()
        try:
            self._store = ScanStore.open(folder)
        except EngineError as exc:
            self.status.setText(exc.message)
            return False
        model_path = self._store.meta.get("model_path")
        if self._model_path is None and model_path and Path(model_path).is_file():
            self._model_path = model_path
        counts = self._store.counts()
        total = sum(counts.values())
        done = counts.get("ok", 0) + counts.get("unreadable", 0)
        self.progress.setValue(round(100 * done / total) if total else 0)
        state = "complete" if self._store.complete else "not finished (scan again to continue)"
        self.status.setText(f"Scan of {total} images, {counts.get('ok', 0)} read: {state}")
        self.layer.blockSignals(True)
        self.layer.clear()
        for layer in self._store.layers:
            self.layer.addItem(f"{layer.name} ({layer.channels} channels)", layer.name)
        self.layer.blockSignals(False)
        self._layer_changed()
        self._update_buttons()
        return True

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> ScanStore | None:
        """The open scan, if any."""
        return self._store

    def _layer_changed(self) -> None:
        name = self.layer.currentData()
        if self._store is None or not name:
            self._stats = None
            self.channels.clear()
            return
        self._stats = channel_statistics(self._store, name)
        self._fill_channels()

    def channel_order(self) -> np.ndarray:
        """The listed order of the current layer's channels."""
        if self._stats is None:
            return np.zeros(0, np.int64)
        return self._stats.order(self.sort.currentData() or "index")

    def _fill_channels(self) -> None:
        if self._stats is None:
            return
        stats, order = self._stats, self.channel_order()
        self.channels.blockSignals(True)
        self.channels.clear()
        for c in order:
            c = int(c)
            item = QListWidgetItem(f"{c:4d}   max {stats.maximum[c]:.3g}   mean "
                                   f"{stats.mean[c]:.3g}   fires {stats.fire_fraction[c]:.0%}")
            item.setData(Qt.ItemDataRole.UserRole, c)
            self.channels.addItem(item)
        self.channels.blockSignals(False)
        self.channelOrderChanged.emit(stats.layer, order)

    def _channel_clicked(self, item: QListWidgetItem | None, _previous: object) -> None:
        name = self.layer.currentData()
        if item is not None and name:
            self.show_channel(name, int(item.data(Qt.ItemDataRole.UserRole)))

    def show_channel(self, layer: str, channel: int) -> int | None:
        """Show a channel's top-k crops (computed in the background)."""
        if self._store is None:
            return None
        folder = self._store.folder
        model_path = self._model_path

        def work(ctx: JobContext) -> tuple[str, int, list[ExampleTile]]:
            store = ScanStore.open(folder)
            try:
                examples = read_examples(store, layer, channel)
                model = self._overlay_model(model_path, store)
                crops = example_crops(store, examples, layer, channel, model, "auto",
                                      ctx.cancel)
            finally:
                store.close()
            return layer, channel, [ExampleTile(e, c) for e, c in
                                    zip(examples, crops, strict=True)]

        self.title.setText(f"{layer}, channel {channel}: loading…")
        self._view_job = self._view_jobs.submit("examples", work, "Top images",
                                                supersede_running=True)
        return self._view_job

    def _overlay_model(self, path: str | None, store: ScanStore) -> LoadedModel | None:
        """The scan's model (loaded once), or None when it is missing or another model."""
        if not path or not Path(path).is_file():
            return None
        model = self._model
        if model is None or str(model.info.path) != str(Path(path)):
            model = load_model(path)
            self._model = model
        planned = json.loads(store.meta.get("plan", "{}")).get("model_sha256")
        return model if model.sha256 == planned else None

    def _on_examples(self, job: int, _kind: str, payload: object) -> None:
        if job != self._view_job:
            return
        layer, channel, tiles = payload  # type: ignore[misc]
        self._clear_tiles()
        for i, tile in enumerate(tiles):
            button = QToolButton(self.grid_host)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setIconSize(QSize(TILE, TILE))
            if tile.crop is not None and tile.crop.size:
                button.setIcon(QIcon(_pixmap(tile.crop)))
            button.setText(f"#{tile.example.rank + 1}  {tile.example.score:.4g}")
            button.setToolTip(plain_tooltip(f"{tile.example.path}\nscore {tile.example.score:.6g}"
                                            f" at y={tile.example.y}, x={tile.example.x}\n"
                                            "Click to open this image"))
            button.setAutoRaise(True)
            path = tile.example.path
            button.clicked.connect(lambda _checked=False, p=path: self.openImage.emit(p))
            self.grid.addWidget(button, i // COLUMNS, i % COLUMNS)
            self.tiles.append(button)
        count = len(tiles)
        self.title.setText(f"{layer}, channel {channel}: top {count} image"
                           f"{'s' if count != 1 else ''}" if count else
                           f"{layer}, channel {channel}: no image yet")
        self.shown = (layer, channel)
        self.examplesShown.emit(layer, channel)

    def _on_view_failed(self, job: int, _kind: str, error: object) -> None:
        if job == self._view_job:
            message = error.message if isinstance(error, EngineError) else str(error)
            self.title.setText(message)

    def _clear_tiles(self) -> None:
        for button in self.tiles:
            self.grid.removeWidget(button)
            button.deleteLater()
        self.tiles.clear()

    # -- lifetime ---------------------------------------------------------------------
    def shutdown(self, timeout: float = 10.0) -> bool:
        """Cancel the jobs, wait for the workers and close the scan."""
        stopped = self._scan_jobs.shutdown(timeout) & self._view_jobs.shutdown(timeout)
        self._close_store()
        return stopped

    def closeEvent(self, event: object) -> None:
        """Stop the workers with the panel."""
        self.shutdown()
        super().closeEvent(event)  # type: ignore[arg-type]
