"""The attribution panel on the demo: cost, run, progress, cancel, results, responsiveness."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QTimer

from engine.attribution import registry

RUN_TIMEOUT_MS = 120_000


def run_to_end(win, qtbot, start=None) -> object:
    """Run (or let ``start`` run) an attribution; fail fast with the notice if it stops."""
    outcome: list[object] = []
    win.controller.attributionReady.connect(outcome.append)
    win.controller.attributionStopped.connect(outcome.append)
    (start or win.attribution.run)()
    qtbot.waitUntil(lambda: bool(outcome), timeout=RUN_TIMEOUT_MS)
    notices = [n.message for n in win.notifier.history]
    assert not isinstance(outcome[0], str), f"attribution {outcome[0]}: {notices[-3:]}"
    return outcome[0]


def choose(win, method: str, **params: object) -> None:
    panel = win.attribution
    assert panel.select_method(method)
    for name, value in params.items():
        panel.params.set_value(name, value)


def test_methods_tooltips_and_cost_estimate(demo_window, qtbot) -> None:
    w = demo_window
    panel = w.attribution
    names = [panel.method.itemData(i) for i in range(panel.method.count())]
    assert names == list(registry.METHODS)  # the engine's one registry, in its order
    choose(w, "occlusion", window=(32, 32), stride=(32, 32))
    panel.update_cost()
    assert panel.cost.text() == "Cost: 50 forward passes (1 reference + 49 perturbed)"
    assert "224×224 NCHW input" in panel.cost.toolTip()  # the engine's geometry
    assert not panel.layer.isEnabled()
    assert "forward pass" in panel.method.toolTip()
    choose(w, "score-cam", channels=24)
    panel.update_cost()
    # the engine's default layer, and its bound at once; the exact count off the GUI thread
    assert panel.layer.isEnabled() and panel.layer.currentText() == "/_conv_head/Conv"
    assert panel.cost.text() == "Cost: at most 25 forward passes (1 reference + 24 perturbed)"
    qtbot.waitUntil(lambda: not panel.cost.text().startswith("Cost: at most"), timeout=30_000)
    assert panel.cost.text() == "Cost: 25 forward passes (1 reference + 24 perturbed)"
    assert "/_conv_head/Conv" in panel.cost.toolTip()
    assert not w.busy_bar.isVisible()  # estimating is not a job the user waits for
    choose(w, "occlusion")
    panel.params.set_value("window", "0, 3")
    panel.update_cost()
    assert "window" in panel.cost.text()  # the engine's own sentence about the bad value


def test_occlusion_runs_then_cancels_and_panel_recovers(demo_window, qtbot) -> None:
    w = demo_window
    panel = w.attribution
    choose(w, "occlusion", window=(8, 8), stride=(2, 2))  # ~12,000 passes: never finishes here
    with qtbot.waitSignal(w.controller.attributionProgress, timeout=RUN_TIMEOUT_MS,
                          check_params_cb=lambda p, _t: p.done > 0):
        qtbot.mouseClick(panel.run_button, qtbot_button())
    assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
    assert "ETA" in panel.eta.text()
    assert panel.progress.maximum() > 10_000
    with qtbot.waitSignal(w.controller.attributionStopped, timeout=RUN_TIMEOUT_MS) as stopped:
        qtbot.mouseClick(panel.cancel_button, qtbot_button())
    assert stopped.args == ["cancelled"]
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert w.state.attributions == []
    assert "cancelled" in panel.eta.text()
    # the engine is still usable after a cancel
    choose(w, "eigen-cam")
    run_to_end(w, qtbot)
    assert w.state.attributions[0].method == "eigen-cam"


def qtbot_button():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_score_cam_completes_with_preview_on_the_cat(demo_window, qtbot, tmp_path) -> None:
    w = demo_window
    panel = w.attribution
    choose(w, "score-cam", channels=32)
    previews: list[object] = []
    w.controller.attributionPreview.connect(previews.append)
    result = run_to_end(w, qtbot)
    assert result.method == "score-cam" and result.layer == "/_conv_head/Conv"
    assert result.heatmap.shape == (224, 224) and np.isfinite(result.heatmap).all()
    assert result.target_index == w.state.predictions[0].class_index
    assert result.perturbation_passes == 32
    assert result.forward_passes > 32  # the reference run (and batch checks) besides
    assert [p.method for p in previews] == ["eigen-cam"]  # instant preview came first
    assert w.attribution.view.shown is result
    title = w.attribution.view.title.text()
    top = w.state.predictions[0].label
    assert title.startswith(f"Score-CAM of '{top}' at layer _conv_head: ")
    assert title.endswith(" s") and f"{result.forward_passes} passes" in title
    assert panel.eta.text() == title  # the result line says the same
    assert panel.progress.value() == panel.progress.maximum()
    # the heat lies on the cat's face: its mass-weighted centre is inside the central area
    heat = np.clip(result.heatmap, 0, None)
    ys, xs = np.mgrid[0:224, 0:224]
    cy, cx = (heat * ys).sum() / heat.sum(), (heat * xs).sum() / heat.sum()
    assert 40 < cy < 190 and 30 < cx < 194
    from app import export

    export.export_heatmap_npy(result, tmp_path / "heat.npy")
    assert np.array_equal(np.load(tmp_path / "heat.npy"), result.heatmap)


def test_results_side_by_side(demo_window, qtbot) -> None:
    w = demo_window
    panel = w.attribution
    choose(w, "eigen-cam")
    for layer in ("/_conv_head/Conv", "/_blocks.10/_expand_conv/Conv"):
        panel.layer.setCurrentText(layer)
        run_to_end(w, qtbot)
    assert [r.layer for r in w.state.attributions] == ["/_blocks.10/_expand_conv/Conv",
                                                       "/_conv_head/Conv"]
    small = w.attribution.view._small
    assert len(small) == 2 and all(s.heat.image is not None for s in small)
    panel.view.opacity.setValue(10)
    qtbot.waitUntil(lambda: abs(small[1].heat.opacity() - 0.1) < 1e-6, timeout=2000)


def test_event_loop_never_blocked_while_attribution_runs(demo_window, qtbot) -> None:
    w = demo_window
    choose(w, "occlusion", window=(16, 16), stride=(12, 12))  # 361 passes, a few seconds
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    last[0] = time.perf_counter()
    timer.start()
    try:
        run_to_end(w, qtbot)
    finally:
        timer.stop()
    assert len(gaps) > 50
    assert max(gaps) < 0.100, f"event loop blocked for {max(gaps) * 1000:.0f} ms"


def test_attribution_asked_during_a_rerun_waits_for_the_new_maps(demo_window, qtbot) -> None:
    w = demo_window
    order: list[str] = []
    w.controller.mapsReady.connect(lambda: order.append("maps"))
    w.controller.attributionReady.connect(lambda _r: order.append("attribution"))
    w.input_panel.editor.resize.setCurrentText("stretch")
    w.input_panel.editor._emit()  # the maps job is now queued or running
    choose(w, "eigen-cam")
    run_to_end(w, qtbot)
    assert order == ["maps", "attribution"]
    assert w.state.prepared.spec.resize == "stretch"
    assert w.state.attributions[0].method == "eigen-cam"


def test_attribution_before_any_model_is_refused_politely(make_window) -> None:
    w = make_window()
    choose(w, "eigen-cam")
    w.attribution.run()
    assert "Open a model" in w.infobar.label.text()
    assert w.attribution.run_button.isEnabled()
