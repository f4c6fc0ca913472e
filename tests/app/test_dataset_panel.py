"""The Dataset panel: scan a folder with progress and cancel, browse a channel's top crops."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from app.views.dataset_panel import DatasetPanel, eta_words
from engine.scan import ScanStore
from tests.engine.scan._scan_data import RED, write_dataset, write_model

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The detector model and its images (plus one unreadable file)."""
    folder = tmp_path_factory.mktemp("dataset_panel")
    model = write_model(folder)
    images = folder / "images"
    write_dataset(images, copies=150)
    (images / "broken.png").write_bytes(b"not an image")
    return model, images


@pytest.fixture
def panel(leak_check: None, qtbot) -> Iterator[DatasetPanel]:
    widget = DatasetPanel()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    yield widget
    assert widget.shutdown(timeout=10.0)


def test_scan_a_folder_then_browse_a_channels_top_crops(panel: DatasetPanel, qtbot,
                                                        data, tmp_path: Path) -> None:
    model, images = data
    assert not panel.scan_button.isEnabled()
    panel.set_model(model)
    panel.set_folder(images)
    assert panel.scan_button.isEnabled()
    seen: list[int] = []
    panel._scan_jobs.progress.connect(lambda _j, _k, p: seen.append(p.done))
    with qtbot.waitSignal(panel.scanFinished, timeout=TIMEOUT_MS) as finished:
        panel.start_scan(tmp_path / "scan", k=4, batch_size=3)
        assert panel.cancel_button.isEnabled() and not panel.scan_button.isEnabled()
    summary = finished.args[0]
    assert summary.readable == summary.images - 1 and seen
    assert panel.progress.value() == 100 and "1 unreadable skipped" in panel.status.text()
    assert [panel.layer.itemData(i) for i in range(panel.layer.count())] == \
        ["color", "edge", "pool"]

    with qtbot.waitSignal(panel.channelOrderChanged) as ordered:
        panel.sort.setCurrentIndex(panel.sort.findData("max"))
    assert ordered.args[0] == "color" and int(ordered.args[1][0]) == 0  # red: largest max
    with qtbot.waitSignal(panel.examplesShown, timeout=TIMEOUT_MS):
        panel.channels.setCurrentRow(0)
    assert panel.shown == ("color", 0) and len(panel.tiles) == 4
    reddest = sorted(RED, key=lambda r: -r.red)
    assert panel.tiles[0].text() == f"#1  {reddest[0].red}"
    assert not panel.tiles[0].icon().isNull()
    with qtbot.waitSignal(panel.openImage) as opened:
        panel.tiles[1].click()
    assert Path(opened.args[0]).name == reddest[1].name


def test_cancel_keeps_the_scan_and_scanning_again_continues_it(panel: DatasetPanel, qtbot,
                                                               data, tmp_path: Path) -> None:
    model, images = data
    panel.set_model(model)
    panel.set_folder(images)
    out = tmp_path / "scan"

    def cancel_when_started(_job: int, _kind: str, progress: object) -> None:
        if getattr(progress, "done", 0) > 0:
            panel.cancel_scan()

    panel._scan_jobs.progress.connect(cancel_when_started)
    with qtbot.waitSignal(panel._scan_jobs.cancelled, timeout=TIMEOUT_MS):
        panel.start_scan(out, k=4, batch_size=1, shard_size=2)
    assert "Scan stopped" in panel.status.text() and panel.scan_button.isEnabled()
    store = ScanStore.open(out)
    try:
        stopped_at = store.committed_shards()
        assert 1 <= stopped_at < len(store.pending_shards()) + stopped_at
    finally:
        store.close()
    panel._scan_jobs.progress.disconnect(cancel_when_started)
    with qtbot.waitSignal(panel.scanFinished, timeout=TIMEOUT_MS) as finished:
        panel.start_scan(out, k=4, batch_size=1, shard_size=2)
    assert finished.args[0].resumed_shards >= stopped_at
    store = ScanStore.open(out)
    try:
        assert store.complete and store.counts()["ok"] == finished.args[0].readable
    finally:
        store.close()


def test_opening_a_folder_that_is_not_a_scan_says_so(panel: DatasetPanel,
                                                     tmp_path: Path) -> None:
    assert not panel.open_scan(tmp_path)
    assert "is not a scan folder" in panel.status.text()
    assert panel.layer.count() == 0


def test_eta_words() -> None:
    assert eta_words(5) == "about 5 s left"
    assert eta_words(125) == "about 2 min 05 s left"
    assert eta_words(3 * 3600 + 60) == "about 3 h 01 min left"
    assert eta_words(float("nan")) == ""


def test_a_scan_note_is_shown_under_the_summary(panel: DatasetPanel, qtbot, data,
                                                tmp_path: Path) -> None:
    """A float16 model's scan rounds its maxima and says so (see engine.scan.runner)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from engine.scan.runner import HALF_NOTE
    from tests.engine.scan._scan_data import detector_model

    _, images = data
    half = tmp_path / "detector_fp16.onnx"
    onnx.save(convert_float_to_float16(detector_model(), keep_io_types=True), half)
    panel.set_model(half)
    panel.set_folder(images)
    with qtbot.waitSignal(panel.scanFinished, timeout=TIMEOUT_MS):
        panel.start_scan(tmp_path / "scan", k=2, batch_size=8)
    lines = panel.status.text().splitlines()
    assert "images scanned" in lines[0] and lines[1] == f"Note: {HALF_NOTE}."
