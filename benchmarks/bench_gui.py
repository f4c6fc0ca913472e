"""Layer switch -> new mosaic on screen, and event-loop stalls during an attribution.

Opens the real main window (offscreen unless a display is set), loads the demo
model and photo, then selects every layer in turn and times, per switch, the
state change through the mosaic's ImageItem update and a synchronous repaint
of the mosaic view. Cold = first visit (normalise + tile + upload), warm = the
cached mosaic shown again. The baseline in the same run is the engine's own
``normalize`` + ``mosaic`` for the same layer, so the GUI overhead is a ratio.

Then it runs an occlusion attribution (the engine on the app's worker thread)
while a 10 ms timer ticks in the GUI thread, once alone and once with ``--hogs``
processes spinning on the CPU beside it, and reports the longest gap between
ticks: how long the event loop could not answer (budget 100 ms).

Usage: ``python benchmarks/bench_gui.py [--json out.json] [--repeat 3] [--hogs 2]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
BUDGET_MS = 100.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _spin(stop_at: float) -> None:
    """A CPU hog: spin until ``stop_at`` (monotonic seconds)."""
    x = 0
    while time.monotonic() < stop_at:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF


def measure_stall(window: Any, app: Any, hogs: int, window_px: int = 16,
                  stride_px: int = 12) -> dict[str, float]:
    """Longest event-loop gap while an occlusion attribution runs, with ``hogs`` spinners.

    A 10 ms QTimer records the time between its ticks in the GUI thread; the
    attribution runs on the app's worker thread exactly as a click on Run does.
    """
    from PySide6.QtCore import QTimer

    panel = window.attribution
    panel.select_method("occlusion")
    panel.params.set_value("window", (window_px, window_px))
    panel.params.set_value("stride", (stride_px, stride_px))
    done: list[object] = []
    window.controller.attributionReady.connect(done.append)
    window.controller.attributionStopped.connect(done.append)
    spawn = multiprocessing.get_context("spawn")  # never fork a process running Qt
    spinners = [spawn.Process(target=_spin, args=(time.monotonic() + 600,),
                                        daemon=True) for _ in range(hogs)]
    for spinner in spinners:
        spinner.start()
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    try:
        time.sleep(1.0)  # the hogs have started and spin
        t0 = time.perf_counter()
        last[0] = t0
        timer.start()
        panel.run()
        while not done and time.perf_counter() - t0 < 600:
            app.processEvents()
            time.sleep(0.001)
        seconds = time.perf_counter() - t0
    finally:
        timer.stop()
        for spinner in spinners:
            spinner.terminate()
            spinner.join(5)
        window.controller.attributionReady.disconnect(done.append)
        window.controller.attributionStopped.disconnect(done.append)
    ms = sorted(g * 1000.0 for g in gaps[1:]) or [0.0]
    return {"hogs": hogs, "attribution_s": seconds, "ticks": len(ms),
            "max_gap_ms": ms[-1], "p99_gap_ms": _percentile(ms, 0.99),
            "median_gap_ms": statistics.median(ms),
            "gaps_over_budget": sum(1 for g in ms if g > BUDGET_MS),
            "finished": bool(done) and not isinstance(done[0], str)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--repeat", type=int, default=3, help="warm passes over all layers")
    parser.add_argument("--hogs", type=int, default=2,
                        help="CPU-spinning processes beside the attribution (0: skip that run)")
    args = parser.parse_args()

    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    settings_dir = tempfile.mkdtemp(prefix="fs-bench-settings-")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    app = QApplication.instance() or QApplication([])
    from app.main_window import MainWindow
    from app.notify import Notifier
    from app.paths import DEMO_IMAGE, DEMO_MODEL
    from app.settings import Settings
    from app.views.common import configure_pyqtgraph
    from engine.stats import as_images, mosaic, normalize

    configure_pyqtgraph()
    window = MainWindow(Notifier(), Settings())
    window.show()
    app.processEvents()
    window.default_layout(1600, 1000)
    ready: list[bool] = []
    window.controller.mapsReady.connect(lambda: ready.append(True))
    t0 = time.perf_counter()
    window.open_paths([DEMO_MODEL, DEMO_IMAGE])
    while not ready:
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t0 > 120:
            raise SystemExit("the demo did not open within 120 s")
    open_s = time.perf_counter() - t0
    state = window.state
    names = [m.layer.name for m in state.maps.layers]

    def switch(name: str) -> float:
        start = time.perf_counter()
        state.select_layer(name)
        window.mosaic.graphics.viewport().repaint()
        app.processEvents()
        return (time.perf_counter() - start) * 1000.0

    rows = []
    state.select_layer(names[-1])
    app.processEvents()
    for name in names:  # cold: nothing cached
        maps = state.maps.layer(name)
        b0 = time.perf_counter()
        mosaic(normalize(as_images(maps.data), "channel"))
        baseline = (time.perf_counter() - b0) * 1000.0
        cold = switch(name)
        rows.append({"layer": name, "channels": int(maps.data.shape[0]),
                     "map": "x".join(map(str, maps.data.shape[1:])),
                     "cold_ms": cold, "engine_mosaic_ms": baseline})
    warm: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.repeat):
        for name in names:
            warm[name].append(switch(name))
    for row in rows:
        row["warm_ms"] = statistics.median(warm[row["layer"]])
        row["ratio_cold_to_engine"] = row["cold_ms"] / max(row["engine_mosaic_ms"], 1e-6)
    stalls = [measure_stall(window, app, 0)]
    if args.hogs > 0:
        stalls.append(measure_stall(window, app, args.hogs))
    window.close()
    window.deleteLater()
    app.processEvents()

    cold = [r["cold_ms"] for r in rows]
    warm_all = [r["warm_ms"] for r in rows]
    summary = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "platform": os.environ.get("QT_QPA_PLATFORM", ""), "layers": len(rows),
        "open_demo_s": open_s, "budget_ms": BUDGET_MS,
        "cold_median_ms": statistics.median(cold), "cold_p95_ms": _percentile(cold, 0.95),
        "cold_max_ms": max(cold), "warm_median_ms": statistics.median(warm_all),
        "warm_max_ms": max(warm_all), "within_budget": max(cold) <= BUDGET_MS,
        "attribution_stalls": stalls,
        "stall_within_budget": all(s["max_gap_ms"] <= BUDGET_MS for s in stalls),
    }
    print(f"{'layer':<36} {'ch':>5} {'map':>8} {'engine':>8} {'cold':>8} {'warm':>8} "
          f"{'ratio':>6}   (times in ms)")
    for r in rows:
        print(f"{r['layer'][-36:]:<36} {r['channels']:>5} {r['map']:>8} "
              f"{r['engine_mosaic_ms']:>8.1f} {r['cold_ms']:>8.1f} {r['warm_ms']:>8.1f} "
              f"{r['ratio_cold_to_engine']:>6.1f}")
    print(f"\nopen demo (load + maps of {len(rows)} layers): {open_s:.2f} s")
    print(f"layer switch -> mosaic shown: cold median {summary['cold_median_ms']:.1f} ms, "
          f"p95 {summary['cold_p95_ms']:.1f} ms, max {summary['cold_max_ms']:.1f} ms; "
          f"warm median {summary['warm_median_ms']:.1f} ms (budget {BUDGET_MS:.0f} ms)")
    for stall in stalls:
        print(f"occlusion attribution with {stall['hogs']} CPU hog(s): "
              f"{stall['attribution_s']:.1f} s, longest event-loop gap "
              f"{stall['max_gap_ms']:.0f} ms, p99 {stall['p99_gap_ms']:.0f} ms, "
              f"{stall['gaps_over_budget']} gaps over {BUDGET_MS:.0f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "layers": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
