"""Long sessions: 100 model open/close cycles without leaks, and cancel within a second."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication

from tests import real_models
from tests.app.conftest import DEMO_IMAGE, DEMO_MODEL, LOAD_TIMEOUT_MS

CYCLES = 100
WARM_UP = 6  # two of each model: caches, pools and lazily built widgets settle first
RSS_GROWTH_LIMIT_MB = 30.0
CANCEL_LIMIT_S = 1.0


def rss_mb() -> float:
    """Resident set size of this process (Linux /proc; NaN elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def native_threads() -> int:
    """Threads of this process as the kernel sees them (onnxruntime pools included)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def settle() -> None:
    gc.collect()
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()


def counts(window: object) -> dict[str, int]:
    settle()
    return {"widgets": len(QApplication.allWidgets()),
            "objects": len(window.findChildren(QObject)),  # type: ignore[attr-defined]
            "python threads": threading.active_count(), "native threads": native_threads()}


def test_hundred_model_open_close_cycles_leak_nothing(make_window, tiny_model, qtbot,
                                                      capsys) -> None:
    """Open and close the demo, a real MTCNN P-Net and a tiny CNN in turn, 100 times.

    RSS depends on which model was open last, so growth compares the peak of the six
    cycles after the warm-up with the peak of the last six (both span every model twice).
    """
    models = [(DEMO_MODEL, DEMO_IMAGE),
              (real_models.fetch("mtcnn_pnet_nhwc_keras2onnx"), real_models.fetch("astronaut")),
              (tiny_model("cnn2d"), DEMO_IMAGE)]
    w = make_window()
    before: dict[str, int] = {}
    rss: list[float] = []
    t0 = time.perf_counter()
    for cycle in range(CYCLES):
        if cycle == WARM_UP:
            before = counts(w)
        model, image = models[cycle % len(models)]
        with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
            w.open_paths([model, image])
        assert w.state.model.info.path == model and w.mosaic.layout_ is not None
        w.close_model()
        assert w.state.model is None and w.state.maps is None and not w.autosaver.path.exists()
        qtbot.waitUntil(lambda: not w.runner.busy, timeout=LOAD_TIMEOUT_MS)
        rss.append(rss_mb())
    seconds = time.perf_counter() - t0
    after = counts(w)
    first, last = max(rss[WARM_UP:WARM_UP + 6]), max(rss[-6:])
    growth = last - first
    with capsys.disabled():
        print(f"\n{CYCLES} open/close cycles in {seconds:.1f} s; peak RSS {first:.0f} MB after "
              f"warm-up, {last:.0f} MB at the end (growth {growth:+.1f} MB); {after}")
    assert after == before, f"leaked: {before} -> {after}"
    assert not [n for n in w.notifier.history if n.level == "error"]
    if growth == growth:  # not NaN (no /proc)
        assert growth < RSS_GROWTH_LIMIT_MB, f"RSS grew {growth:.1f} MB over {CYCLES} cycles"


def test_cancel_reaches_the_cancelled_state_within_a_second(demo_window, qtbot,
                                                            capsys) -> None:
    """Press Cancel at several moments of slow attributions; the job ends within 1 s."""
    w = demo_window
    panel = w.attribution
    latencies: list[tuple[str, int, float]] = []
    for method, params in (("occlusion", {"window": (8, 8), "stride": (2, 2)}),
                           ("rise", {})):
        if not panel.select_method(method):
            continue
        for name, value in params.items():
            panel.params.set_value(name, value)
        for delay_ms in (0, 400):
            with qtbot.waitSignal(w.controller.attributionProgress, timeout=LOAD_TIMEOUT_MS,
                                  check_params_cb=lambda p, _t: p.done > 0):
                panel.run()
            qtbot.wait(delay_ms)
            stopped: list[tuple[str, float]] = []

            def on_stopped(why: str, seen: list[tuple[str, float]] = stopped) -> None:
                seen.append((why, time.perf_counter()))

            w.controller.attributionStopped.connect(on_stopped)
            t0 = time.perf_counter()
            qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda seen=stopped: bool(seen), timeout=10_000)
            w.controller.attributionStopped.disconnect(on_stopped)
            why, t1 = stopped[0]
            assert why == "cancelled" and panel.run_button.isEnabled()
            assert not w.runner.busy  # the worker is free: the job has really ended
            latencies.append((method, delay_ms, t1 - t0))
    with capsys.disabled():
        print("\ncancel latency (method, ms after the first progress, latency): " + ", ".join(
            f"{m} +{d} ms: {s * 1000:.0f} ms" for m, d, s in latencies))
    assert latencies
    assert max(s for _m, _d, s in latencies) < CANCEL_LIMIT_S, latencies


def test_stop_button_cancels_a_feature_map_run(demo_window, qtbot) -> None:
    w = demo_window
    maps = w.state.maps
    w.input_panel.editor.resize.setCurrentText("stretch")
    with qtbot.waitSignal(w.runner.started, timeout=LOAD_TIMEOUT_MS):
        w.input_panel.editor._emit()
    assert w.stop_button.isVisible()
    t0 = time.perf_counter()
    with qtbot.waitSignal(w.runner.cancelled, timeout=5000):
        qtbot.mouseClick(w.stop_button, Qt.MouseButton.LeftButton)
    assert time.perf_counter() - t0 < CANCEL_LIMIT_S
    qtbot.waitUntil(lambda: not w.stop_button.isVisible(), timeout=5000)
    assert w.state.maps is maps  # the previous maps stay shown
