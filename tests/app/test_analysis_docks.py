"""The window's Dataset dock and File > Compare with...: wired to the current model."""

from __future__ import annotations

import numpy as np

from tests.app.conftest import DEMO_MODEL


def test_compare_with_opens_a_comparison_of_the_current_model(demo_window, qtbot) -> None:
    window = demo_window
    tools = window.analysis
    action = tools.compare_action
    file_menu = window.menuBar().actions()[0].menu()
    assert action in file_menu.actions() and action.isEnabled()
    compare = tools.open_comparison(DEMO_MODEL)  # the model against itself
    assert compare is not None
    qtbot.waitUntil(lambda: compare.result is not None, timeout=120_000)
    result = compare.result
    assert len(result.pairs) == 49 and result.first_divergence is None
    assert all(pair.rel_l2 == 0 for pair in result.pairs)
    assert "no layer's local error exceeds the tolerance" in compare.status.text()
    compare.view.pairSelected.emit(3)  # as a click on the chart or the pair list does
    shown: list[tuple[int, np.ndarray, np.ndarray]] = []
    original = compare.view.show_pair_maps
    compare.view.show_pair_maps = lambda i, a, b: (shown.append((i, a, b)), original(i, a, b))
    compare.view.pairSelected.emit(4)
    qtbot.waitUntil(lambda: bool(shown), timeout=60_000)
    index, a, b = shown[-1]
    assert index == 4 and a.shape == b.shape and np.array_equal(a, b)
    compare.close()


def test_dataset_dock_follows_the_model(demo_window) -> None:
    tools = demo_window.analysis
    assert tools.dock.windowTitle() == "Dataset"
    assert tools.dock.toggleViewAction() in demo_window.actions_.view_menu.actions()


def test_export_audit_report_writes_html_pdf_and_json(demo_window, qtbot, tmp_path) -> None:
    import json

    from engine.audit.report import AuditSettings

    tools = demo_window.analysis
    assert tools.audit_action.isEnabled()
    written: list[object] = []
    tools.audit.done = written.append
    folder = tmp_path / "report"
    tools.audit.start(demo_window.state.model, demo_window.state.image_path, folder,
                      AuditSettings(methods=("eigen-cam",), steps=4, cascade=1))
    qtbot.waitUntil(lambda: bool(written), timeout=120_000)
    assert sorted(p.name for p in folder.iterdir()) == ["audit.json", "report.html",
                                                       "report.pdf"]
    audit = json.loads((folder / "audit.json").read_text())
    assert audit["images"][0]["predictions"][0]["label"] == "Egyptian cat"
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
