"""GUI test fixtures: offscreen Qt, isolated QSettings and data folders, real windows, leaks.

Without PySide6 (the engine-only run) nothing here is collected.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HAVE_QT = all(importlib.util.find_spec(name) is not None
              for name in ("PySide6", "pyqtgraph", "pytestqt"))
if not HAVE_QT:
    collect_ignore_glob = ["test_*.py"]
else:
    from PySide6.QtCore import QCoreApplication, QEvent, QSettings
    from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
DEMO_IMAGE = ROOT / "resources" / "images" / "chelsea.png"
OTHER_IMAGE = ROOT / "resources" / "images" / "coffee.png"
LOAD_TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point QSettings (INI, user scope), XDG config and XDG data at per-test folders.

    The application names are set as ``featurescope`` sets them, so that
    QStandardPaths' AppDataLocation (autosaves) is ``<XDG_DATA_HOME>/Featurescope/...``.
    """
    from app.settings import APPLICATION, ORGANIZATION

    folder = tmp_path / "settings"
    folder.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    yield folder


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Keep each phase's report on the item so fixtures know whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "featurescope-worker" and t.is_alive()]


def _flush_deletes() -> None:
    gc.collect()
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()


@pytest.fixture
def leak_check(qapp: QApplication, request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail when a test leaves a worker thread running or a top-level widget alive.

    The test has finished when this runs, so its arguments are dropped first:
    whatever is still alive after that was kept by the app itself.
    """
    _flush_deletes()
    before = {id(w) for w in qapp.topLevelWidgets()}
    yield
    request.node.funcargs.clear()
    _flush_deletes()
    assert _workers() == [], "a worker thread is still running after the test"
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        return  # the failure's traceback keeps the window alive; that is not a leak
    leaked = [w for w in qapp.topLevelWidgets() if id(w) not in before]
    assert leaked == [], f"top-level widgets leaked: {[type(w).__name__ for w in leaked]}"


@pytest.fixture
def make_window(qtbot: object, leak_check: None) -> Iterator[object]:
    """Factory for real main windows; each is closed, shut down and deleted afterwards."""
    from app.main_window import MainWindow
    from app.notify import Notifier
    from app.settings import Settings

    windows: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow(Notifier(), Settings())
        window.resize(1400, 900)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        assert not window.runner.busy or _workers() == []
        window.deleteLater()
    windows.clear()
    _flush_deletes()


@pytest.fixture
def demo_window(make_window: object, qtbot: object) -> object:
    """A window with the demo model and photo opened and their feature maps shown."""
    window = make_window()  # type: ignore[operator]
    with qtbot.waitSignal(window.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):  # type: ignore[attr-defined]
        window.open_paths([DEMO_MODEL, DEMO_IMAGE])
    return window
