"""The window as an analyst expects it (issue 14): every finding reproduced by a test.

Stale state, plain words, scales on every map, a layout that stays put, exports that
explain themselves, a Help menu, a UTF-8 locale.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QByteArray, QPointF
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, Qt, QTextDocument
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QWidget

from engine.attribution import registry
from tests import toy_method
from tests.app.conftest import DEMO_IMAGE, DEMO_MODEL, LOAD_TIMEOUT_MS, OTHER_IMAGE

RUN_TIMEOUT_MS = 120_000


def run_method(w, qtbot, method: str, **params: object) -> object:
    panel = w.attribution
    assert panel.select_method(method)
    for name, value in params.items():
        panel.params.set_value(name, value)
    with qtbot.waitSignal(w.controller.attributionReady, timeout=RUN_TIMEOUT_MS) as ready:
        panel.run()
    return ready.args[0]


def banner(w) -> str:
    """The message strip's text, or "" when it is hidden."""
    return w.infobar.label.text() if w.infobar.isVisible() else ""


def menu_actions(w) -> list[QAction]:
    """Every action of the window's menus (submenus included)."""
    found: list[QAction] = []

    def walk(menu) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu())
            elif not action.isSeparator():
                found.append(action)

    for top in w.menuBar().actions():
        walk(top.menu())
    return found


def rich_text(tip: str) -> str:
    doc = QTextDocument()
    doc.setHtml(tip)
    return doc.toPlainText()


# -- 1. stale state ------------------------------------------------------------------------
def test_error_banner_goes_when_a_later_run_succeeds(demo_window, qtbot, tmp_path) -> None:
    w = demo_window
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with qtbot.waitSignal(w.runner.failed, timeout=LOAD_TIMEOUT_MS):
        w.controller.open_image(broken)
    assert "broken.png" in banner(w)
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.controller.open_image(OTHER_IMAGE)
    assert "broken.png" not in banner(w)  # the input that failed is no longer the input


def test_load_error_goes_once_another_model_opens(make_window, qtbot) -> None:
    w = make_window()
    with qtbot.waitSignal(w.controller.modelFailed, timeout=LOAD_TIMEOUT_MS):
        w.controller.open_model(DEMO_IMAGE)  # an image is not a model
    assert "Loading chelsea.png" in banner(w)
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([DEMO_MODEL, DEMO_IMAGE])
    assert "Loading chelsea.png" not in banner(w)


def test_cancel_takes_the_preview_down(demo_window, qtbot) -> None:
    w = demo_window
    panel = w.attribution
    assert panel.select_method("occlusion")
    panel.params.set_value("window", (8, 8))
    panel.params.set_value("stride", (2, 2))  # thousands of passes: never finishes here
    with qtbot.waitSignal(w.controller.attributionPreview, timeout=RUN_TIMEOUT_MS):
        panel.run()
    assert panel.view.title.text().startswith("Preview (Eigen-CAM)")
    with qtbot.waitSignal(w.controller.attributionStopped, timeout=RUN_TIMEOUT_MS):
        panel.cancel()
    assert not panel.view.title.text().startswith("Preview")
    assert panel.view.main.heat.image is None  # nothing was computed, nothing is shown
    assert w.shown_heatmap() is None


def test_hover_readout_does_not_carry_over_to_another_model(demo_window, qtbot,
                                                             tiny_model) -> None:
    w = demo_window
    w.state.select_layer("/_conv_head/Conv")
    w.mosaic._on_move(w.mosaic.channel_slot_position(153))
    assert "channel 153" in w.mosaic.hover.text()
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([tiny_model("cnn2d"), DEMO_IMAGE])
    assert w.mosaic.hover.text() == ""


def test_recent_inputs_follow_every_input_opened(demo_window, qtbot, tmp_path) -> None:
    w = demo_window
    mine = tmp_path / "my coffee.png"
    mine.write_bytes(OTHER_IMAGE.read_bytes())
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.controller.open_image(mine)  # the same model: no model change
    shown = [a.text().replace("&&", "&") for a in w.actions_.recent_images.actions()]
    assert str(mine.resolve()) in shown


# -- 2. plain words ------------------------------------------------------------------------
def test_result_line_in_plain_words_details_behind_a_disclosure(demo_window, qtbot) -> None:
    w = demo_window
    panel = w.attribution
    result = run_method(w, qtbot, "eigen-cam")
    line = panel.eta.text()
    top = w.state.predictions[0].label
    assert line.startswith(f"Eigen-CAM of '{top}' at layer _conv_head: ")
    noun = "pass" if result.forward_passes == 1 else "passes"
    assert line.endswith(f": {result.forward_passes} {noun}, {result.seconds:.1f} s")
    for jargon in ("batch", "provider", "CPUExecutionProvider", "perturbed"):
        assert jargon not in line and jargon not in panel.view.title.text()
    assert not panel.details.isVisible()
    panel.details_button.setChecked(True)
    assert panel.details.isVisible()
    assert "Batching:" in panel.details.text() and "Provider:" in panel.details.text()


def test_tooltips_wrap_and_parameters_explain_their_effect(demo_window) -> None:
    w = demo_window
    panel = w.attribution
    screen = QGuiApplication.primaryScreen().availableGeometry().width()
    font = QApplication.font("QTipLabel")
    for name in registry.METHODS:
        assert panel.select_method(name)
        for param in panel.params.names():
            spec = panel.params.spec(param)
            for widget in (panel.params.label(param), panel.params.field(param)):
                assert " ".join(rich_text(widget.toolTip()).split()) == \
                    " ".join(spec.describe().split())
            if spec.effect:
                assert spec.effect in " ".join(rich_text(panel.params.label(param)
                                                         .toolTip()).split())
    for widget in [w, *w.findChildren(QWidget)]:
        tip = widget.toolTip()
        if not tip:
            continue
        if Qt.mightBeRichText(tip):
            doc = QTextDocument()
            doc.setDefaultFont(font)
            doc.setHtml(tip)
            assert doc.idealWidth() < screen, tip
            lines = doc.toPlainText().splitlines()
        else:
            lines = tip.splitlines()
        assert max(len(line) for line in lines) <= 100, tip


# -- 3. scales -----------------------------------------------------------------------------
def test_heatmaps_have_colour_scales_and_labelled_thumbnails(demo_window, qtbot) -> None:
    w = demo_window
    view = w.attribution.view
    first = run_method(w, qtbot, "eigen-cam")
    low, high = view.colorbar.levels()
    assert (low, high) == pytest.approx((float(first.heatmap.min()), float(first.heatmap.max())),
                                        rel=1e-5)
    w.attribution.layer.setEditText("/_blocks.10/_expand_conv/Conv")
    second = run_method(w, qtbot, "eigen-cam")
    captions = [rich_text(label.text) for label in view._captions[:2]]
    top = w.state.predictions[0].label
    assert captions[0].splitlines()[0] == "Eigen-CAM"
    assert captions[0].splitlines()[1].endswith("_expand_conv")
    assert top in captions[0].splitlines()[2] and "_conv_head" in captions[1]
    assert "_blocks.10/_expand_conv" in rich_text(view._small[0].view.toolTip())
    assert second.layer == "/_blocks.10/_expand_conv/Conv"
    # the channel view and the mosaic have their scales too
    assert w.channel.colorbar is not None and w.mosaic.colorbar is not None


def test_a_flat_map_says_so(make_window, qtbot, monkeypatch) -> None:
    monkeypatch.setitem(registry.METHODS, toy_method.METHOD.name, toy_method.METHOD)
    w = make_window()
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([DEMO_MODEL, DEMO_IMAGE])
    run_method(w, qtbot, toy_method.METHOD.name)  # a constant map
    view = w.attribution.view
    assert view.warning.isVisible()
    assert view.warning.text() == "The map is flat: this layer does not respond to the target."
    run_method(w, qtbot, "eigen-cam")
    assert not view.warning.isVisible()


# -- 4. layout -----------------------------------------------------------------------------
def _right_width(w) -> int:
    shown = [d for d in (w.input_dock, w.channel_dock, w.attribution_dock)
             if not d.visibleRegion().isEmpty()]
    return shown[0].width()


def test_clicking_a_channel_keeps_the_docks_as_they_are(demo_window, qtbot) -> None:
    w = demo_window
    qtbot.wait(20)
    w.resize(1400, 900)
    w.resizeDocks([w.layers_dock, w.input_dock], [380, 440], Qt.Orientation.Horizontal)
    qtbot.wait(50)
    layers, right = w.layers_dock.width(), _right_width(w)
    pos = w.mosaic.channel_slot_position(20)
    qtbot.mouseClick(w.mosaic.graphics.viewport(), Qt.MouseButton.LeftButton,
                     pos=w.mosaic.graphics.mapFromScene(pos))
    qtbot.wait(50)
    assert w.state.channel == 20
    assert not w.input_dock.visibleRegion().isEmpty()  # the input stays in front
    assert w.channel_dock.windowTitle() == "Channel 20"  # the tab says what it holds
    assert (w.layers_dock.width(), _right_width(w)) == (layers, right)
    for dock in (w.channel_dock, w.attribution_dock, w.input_dock):
        w.raise_dock(dock)
        qtbot.wait(30)
        assert (w.layers_dock.width(), _right_width(w)) == (layers, right), dock.objectName()


def test_restored_geometry_fits_the_screen(make_window, qtbot) -> None:
    area = QGuiApplication.primaryScreen().availableGeometry()
    big = make_window()
    big.resize(area.width() + 731, area.height() + 451)  # e.g. 1531x1251 on 800 px
    big.move(area.left() + 200, area.top() + 100)
    qtbot.wait(20)
    big.settings.save_window_state(big.saveGeometry(), QByteArray())
    big.settings.sync()
    from app.main_window import MainWindow
    from app.notify import Notifier
    from app.settings import Settings

    restored = MainWindow(Notifier(), Settings())
    try:
        frame = restored.frameGeometry()
        assert area.contains(frame), (frame, area)
    finally:
        restored.close()
        restored.deleteLater()


def test_dock_widths_persist_between_windows(make_window, qtbot) -> None:
    w = make_window()
    qtbot.wait(20)
    w.resizeDocks([w.layers_dock, w.input_dock], [333, 455], Qt.Orientation.Horizontal)
    qtbot.wait(20)
    widths = (w.layers_dock.width(), w.input_dock.width())
    w.close()
    again = make_window()
    again.resize(w.size())
    qtbot.wait(50)
    assert abs(again.layers_dock.width() - widths[0]) <= 4
    assert abs(again.input_dock.width() - widths[1]) <= 4


def test_layer_tree_columns_fit_their_text(demo_window) -> None:
    tree = demo_window.layer_tree
    metrics = tree.fontMetrics()
    for column in (1, 2, 3):
        widest = max(metrics.horizontalAdvance(item.text(column))
                     for item in tree._items.values())
        assert tree.columnWidth(column) >= widest + 4, column


def test_overview_keeps_every_layer_in_view(demo_window, qtbot) -> None:
    w = demo_window
    ov = w.overview
    n = len(ov._names)
    point = ov.size_points.points()[10]
    target = ov.graphics.mapFromScene(ov.size_plot.vb.mapViewToScene(point.pos()))
    viewport = ov.graphics.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=target)
    for step in range(1, 5):  # a slightly shaky click: a short drag
        qtbot.mouseMove(viewport, target + QPointF(12 * step, 0).toPoint())
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=target + QPointF(48, 0).toPoint())
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=target)
    assert w.state.layer_name == ov._names[10]
    for plot in (ov.size_plot, ov.chan_plot):
        (x0, x1), _ = plot.viewRange()
        assert x0 <= 0 and x1 >= n - 1, (x0, x1)


# -- 5. exports ------------------------------------------------------------------------------
def test_dialogs_start_in_the_last_folder_or_home_never_the_bundle(
        demo_window, qtbot, monkeypatch, tmp_path, tiny_model) -> None:
    w = demo_window  # the bundled demo model and photo were opened
    asked: list[str] = []

    def answer(_parent, _caption, folder, _filter):
        asked.append(folder)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", answer)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer)
    w.actions_.choose_model()
    w.actions_.choose_image()
    w.actions_.save_session()
    bundle = str(DEMO_MODEL.parent.parent)
    assert all(not a.startswith(bundle) for a in asked), asked
    assert asked[0] == str(Path.home()) and asked[1] == str(Path.home())
    assert Path(asked[2]).parent == Path.home()
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([tiny_model("cnn2d"), DEMO_IMAGE])
    w.actions_.choose_model()
    assert asked[-1] == str(tiny_model("cnn2d").parent)


def test_exports_are_named_and_explained(demo_window, qtbot, monkeypatch, tmp_path) -> None:
    w = demo_window
    w.state.select_layer("/_blocks.2/_expand_conv/Conv")
    w.state.select_channel(7)
    suggested: list[str] = []

    def answer(_parent, _caption, start, _filter):
        suggested.append(Path(start).name)
        return str(tmp_path / Path(start).name), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer)
    exports = {a.text().rstrip("…"): a for a in menu_actions(w)}
    exports["Channel as .npy"].trigger()
    assert suggested[-1] == "efficientnet_lite0_blocks.2__expand_conv_ch7.npy"
    sidecar = json.loads((tmp_path / suggested[-1]).with_suffix(".json").read_text())
    assert sidecar["model_sha256"] == w.state.model.sha256
    assert sidecar["layer"] == "/_blocks.2/_expand_conv/Conv" and sidecar["channel"] == 7
    assert sidecar["input"]["source"] == str(DEMO_IMAGE)
    assert sidecar["input"]["spec"]["preset"] == w.state.spec.preset
    assert sidecar["shape"] == [56, 56]
    exports["Layer as .npy"].trigger()
    assert json.loads((tmp_path / suggested[-1]).with_suffix(".json").read_text())[
        "channel"] is None
    result = run_method(w, qtbot, "eigen-cam")
    exports["Heatmap as .npy"].trigger()
    assert suggested[-1] == "efficientnet_lite0_eigen-cam_conv_head.npy"
    saved = np.load(tmp_path / suggested[-1])
    np.testing.assert_array_equal(saved, result.heatmap)
    manifest = json.loads((tmp_path / suggested[-1]).with_suffix(".json").read_text())
    assert manifest["method"] == "eigen-cam" and manifest["layer"] == "/_conv_head/Conv"
    assert manifest["model_sha256"] == w.state.model.sha256
    assert manifest["parameters"] == {k: list(v) if isinstance(v, tuple) else v
                                      for k, v in result.params}
    assert manifest["batch_size"] == result.batch_size  # the details live here
    assert manifest["input"]["spec"]["height"] == 224
    exports["Heatmap overlay as PNG"].trigger()
    assert suggested[-1] == "efficientnet_lite0_eigen-cam_conv_head_overlay.png"
    from PIL import Image

    with Image.open(tmp_path / suggested[-1]) as image:
        assert image.size == (224, 224)
    assert not list(tmp_path.glob("*.tmp"))


def test_a_failed_export_names_the_folder(demo_window, monkeypatch, tmp_path) -> None:
    w = demo_window
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *_a: (str(blocker / "out.npy"), ""))
    exports = {a.text().rstrip("…"): a for a in menu_actions(w)}
    exports["Layer as .npy"].trigger()
    assert "Could not write 'out.npy'" in banner(w)
    assert str(blocker) in banner(w)


def test_shortcuts_leave_text_editing_keys_alone(demo_window, qtbot, monkeypatch) -> None:
    w = demo_window
    editing = set()
    for key in (QKeySequence.StandardKey.MoveToEndOfLine,
                QKeySequence.StandardKey.MoveToStartOfLine,
                QKeySequence.StandardKey.SelectAll, QKeySequence.StandardKey.DeleteEndOfLine,
                QKeySequence.StandardKey.Copy, QKeySequence.StandardKey.Paste,
                QKeySequence.StandardKey.Cut, QKeySequence.StandardKey.Undo,
                QKeySequence.StandardKey.Redo, QKeySequence.StandardKey.MoveToNextWord,
                QKeySequence.StandardKey.MoveToPreviousWord,
                QKeySequence.StandardKey.DeleteStartOfWord,
                QKeySequence.StandardKey.DeleteEndOfWord):
        editing |= {k.toString() for k in QKeySequence.keyBindings(key)}
    editing |= {"Ctrl+A", "Ctrl+E", "Ctrl+K", "Ctrl+U", "Ctrl+W", "Ctrl+H", "Ctrl+D"}
    taken = {a.shortcut().toString(): a.text() for a in menu_actions(w)
             if not a.shortcut().isEmpty()}
    assert not set(taken) & editing, {k: taken[k] for k in set(taken) & editing}
    # Ctrl+E in a text field moves to the end of the line and exports nothing
    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a: (asked.append("export"), ("", ""))[1])
    field = w.input_panel.editor.mean
    w.raise_dock(w.input_dock)
    field.setFocus()
    field.setCursorPosition(0)
    qtbot.keyClick(field, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert asked == []
    assert isinstance(field, QLineEdit)


# -- 6. help ------------------------------------------------------------------------------
def test_help_menu_shortcuts_guide_and_facts(make_window, qtbot) -> None:
    w = make_window()
    titles = [a.text() for a in w.menuBar().actions()[-1].menu().actions()]
    assert titles == ["Keyboard shortcuts", "How to read these views", "About Featurescope"]
    page = w.actions_.show_shortcuts().browser.toPlainText()
    assert "Ctrl+R" in page and "Run" in page and "Ctrl+O" in page
    guide = w.actions_.show_guide().browser.toPlainText()
    assert "receptive field" in guide.lower() and "feature maps" in guide.lower()
    for method in registry.METHODS.values():  # generated from the registry
        assert method.title in guide and " ".join(method.description.split()) in \
            " ".join(guide.split())
    about = w.actions_.about().browser.toPlainText()
    assert "Featurescope 0.1.0" in about and "onnxruntime" in about
    assert not w.actions_.help_window.isModal()


def test_recent_models_hide_the_bundled_demo_path(demo_window) -> None:
    w = demo_window
    w.actions_.refresh_recent()
    texts = [a.text() for a in w.actions_.recent_models.actions()]
    assert "Demo model (efficientnet_lite0.onnx)" in texts
    assert not any(str(DEMO_MODEL.parent) in t for t in texts)


# -- 7. locale -------------------------------------------------------------------------------
def test_utf8_locale_when_the_session_sets_none() -> None:
    from app.main import ensure_utf8_locale

    env: dict[str, str] = {}
    assert ensure_utf8_locale(env, "linux") == "LC_CTYPE=C.UTF-8" and env == {
        "LC_CTYPE": "C.UTF-8"}
    env = {"LC_ALL": "C"}
    assert ensure_utf8_locale(env, "linux") == "LC_ALL=C.UTF-8"
    env = {"LANG": "POSIX"}
    ensure_utf8_locale(env, "darwin")
    assert env["LC_CTYPE"] == "UTF-8"
    for kept in ({"LANG": "de_DE.UTF-8"}, {"LC_ALL": "C.UTF-8"}, {"LANG": "fr_FR.ISO-8859-1"}):
        copy = dict(kept)
        assert ensure_utf8_locale(copy, "linux") is None and copy == kept
    assert ensure_utf8_locale({}, "win32") is None


def test_a_session_without_locale_starts_without_qt_locale_warnings(tmp_path) -> None:
    import subprocess
    import sys

    from tests.app.conftest import ROOT

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LC_") and k not in ("LANG", "LANGUAGE", "PYTHONUTF8")}
    env.update(PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", PYTHONCOERCECLOCALE="0",
               XDG_CONFIG_HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path))
    out = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, "-m", "app.main", "--screenshot", str(out),
                           str(DEMO_MODEL), str(DEMO_IMAGE)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for warning in ("Detected locale", "not UTF-8", "ANSI_X3.4"):
        assert warning not in proc.stderr, proc.stderr[-2000:]
