"""The drift view: channels ranked by drift between two real scans, with their examples."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageEnhance

from engine.scan.runner import ScanRequest, run_scan
from tests.app.conftest import DEMO_IMAGE, DEMO_MODEL

LAYERS = ("/_conv_stem/Conv",)


def _scan(folder: Path, out: Path, darken: float) -> Path:
    folder.mkdir()
    with Image.open(DEMO_IMAGE) as image:
        picture = image.convert("RGB")
    w, h = picture.size
    for n in range(24):
        crop = picture.crop((n * 3, n * 2, w - n * 2, h - n * 3))
        ImageEnhance.Brightness(crop).enhance(darken).save(folder / f"p{n:02d}.png")
    run_scan(ScanRequest(model=str(DEMO_MODEL), data=(str(folder),), out=str(out),
                         layers=LAYERS, k=4, batch_size=8, preference="cpu"))
    return out


def test_drift_view_ranks_channels_and_shows_examples_from_both(demo_window, qtbot,
                                                                tmp_path: Path) -> None:
    a = _scan(tmp_path / "bright", tmp_path / "a", 1.0)
    b = _scan(tmp_path / "dark", tmp_path / "b", 0.3)
    view = demo_window.analysis.open_drift(a, b)
    qtbot.waitUntil(lambda: view.shown is not None, timeout=60_000)
    assert view.table.rowCount() == 32  # the stem's channels
    assert "channels drift" in view.summary.text()
    effects = [row.effect_size for row in view.rows]
    assert effects == sorted(effects, reverse=True)
    assert view.shown == (view.rows[0].layer, view.rows[0].channel)
    pixmaps = [view.grid.itemAt(i).widget().pixmap() for i in range(view.grid.count())]
    assert sum(1 for p in pixmaps if p is not None and not p.isNull()) == 8  # 4 + 4 crops
    assert demo_window.analysis.drift_action.isEnabled()
