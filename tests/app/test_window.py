"""Drive the real main window as an analyst would: open, browse, inspect, export, reopen."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests.app.conftest import DEMO_IMAGE, DEMO_MODEL, LOAD_TIMEOUT_MS, OTHER_IMAGE


def test_demo_opens_with_maps_predictions_and_card(demo_window, qtbot) -> None:
    w = demo_window
    state = w.state
    assert state.model is not None and state.maps is not None
    assert len(state.maps.layers) == 49
    assert state.layer_name == "/_conv_stem/Conv"
    assert w.mosaic.layout_ is not None
    assert w.mosaic.image.image.dtype == np.float32
    assert w.mosaic.image.image.flags.c_contiguous
    assert "32 channels" in w.mosaic.title.text()
    top = state.predictions[0]
    assert (top.class_index in (281, 282, 285) and "cat" in top.label.lower()) or \
        top.label == "tabby"
    assert w.input_panel.predictions.table.rowCount() == 5
    html = w.model_card.toHtml()
    assert state.model.sha256 in html and "logits" in html
    assert "CPU" in w.provider_label.text() or "CUDA" in w.provider_label.text()
    assert w.layer_tree.topLevelItemCount() == 5  # stages 0..4
    assert "efficientnet_lite0.onnx" in w.windowTitle()


def test_switch_layers_by_tree_keyboard_and_overview(demo_window, qtbot) -> None:
    w = demo_window
    tree = w.layer_tree
    tree.setFocus()
    qtbot.keyClick(tree, Qt.Key.Key_Down)
    assert w.state.layer_name == "/_blocks.0/_depthwise_conv/Conv"
    last = "/_conv_head/Conv"
    tree.setCurrentItem(tree._items[last])
    assert w.state.layer_name == last
    assert "1280 channels" in w.mosaic.title.text()
    assert w.mosaic.layout_.image.shape[0] > 0
    # the overview's points select layers too
    point = type("P", (), {"data": lambda self: "/_blocks.3/_expand_conv/Conv"})()
    w.overview._clicked(None, [point])
    assert w.state.layer_name == "/_blocks.3/_expand_conv/Conv"
    assert tree.currentItem().text(0) == "/_blocks.3/_expand_conv/Conv"
    # shortcuts step through layers
    w.actions_.step_layer(1)
    assert w.state.layer_name == "/_blocks.3/_depthwise_conv/Conv"


def test_display_settings_and_hover_click_open_a_channel(demo_window, qtbot) -> None:
    w = demo_window
    w.mosaic.sort.setCurrentText("mean")
    w.mosaic.normalization.setCurrentText("layer")
    w.mosaic.colormap.setCurrentText("magma")
    assert (w.state.sort_key, w.state.normalization, w.state.colormap) == ("mean", "layer",
                                                                           "magma")
    order = w.mosaic.layout_.order
    means = w.state.current_maps().stats.mean
    assert means[order[0]] == means.max()
    channel = int(order[3])
    scene_pos = w.mosaic.channel_slot_position(channel)
    w.mosaic._on_move(scene_pos)
    assert f"channel {channel} " in w.mosaic.hover.text()
    view_pos = w.mosaic.graphics.mapFromScene(scene_pos)
    qtbot.mouseClick(w.mosaic.graphics.viewport(), Qt.MouseButton.LeftButton, pos=view_pos)
    assert w.state.channel == channel
    detail = w.channel
    assert f"channel {channel}" in detail.title.text()
    assert detail.overlay.image is not None and detail.overlay.image.shape == (112, 112)
    assert detail.channel_box.value() == channel
    detail.opacity.setValue(20)
    qtbot.waitUntil(lambda: abs(detail.overlay.opacity() - 0.2) < 1e-6, timeout=2000)
    w.actions_.step_channel(1)
    assert w.state.channel == channel + 1


def test_spec_edit_reruns_and_is_remembered(demo_window, qtbot) -> None:
    w = demo_window
    editor = w.input_panel.editor
    first = w.state.maps
    editor.resize.setCurrentText("stretch")
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        editor._emit()
    assert w.state.spec.resize == "stretch"
    assert w.state.maps is not first
    assert w.settings.load_spec(w.state.model.sha256).resize == "stretch"
    editor.mean.setText("1, 2")
    editor._emit()
    assert "three numbers" in editor.error.text()


def test_other_image_and_drag_and_drop(demo_window, qtbot) -> None:
    w = demo_window
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(OTHER_IMAGE))])
        event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                           Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
        w.dropEvent(event)
    assert w.state.image_path == OTHER_IMAGE
    assert str(OTHER_IMAGE.resolve()) in [str(p) for p in w.settings.recent("images")]
    assert w.state.predictions[0].label  # coffee mug or espresso; just labelled


def test_a_gif_input_opens_in_the_window(demo_window, qtbot, tmp_path, monkeypatch) -> None:
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog

    from app.paths import kind_of
    from engine.preprocess import INPUT_SUFFIXES

    w = demo_window
    gif = tmp_path / "chelsea.gif"
    with Image.open(DEMO_IMAGE) as image:
        image.convert("RGB").save(gif)
    filters: list[str] = []

    def answer(_parent, _caption, _folder, filter_text):
        filters.append(filter_text)
        return str(gif), filter_text

    monkeypatch.setattr(QFileDialog, "getOpenFileName", answer)
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.actions_.open_image.trigger()  # File > Open input...
    assert "*.gif" in filters[0].split(";;")[0]
    assert w.state.image_path == gif
    assert w.state.prepared is not None and w.state.prepared.display is not None
    assert w.state.predictions and w.input_panel.predictions.table.rowCount() == 5
    assert "chelsea.gif" in w.input_panel.source.text() and "chelsea.gif" in w.windowTitle()
    assert not [n for n in w.notifier.history if n.level != "info"]
    # every input the engine reads is one the window opens (one list, the engine's)
    assert ".gif" in INPUT_SUFFIXES
    assert all(kind_of(f"input{suffix.upper()}") == "image" for suffix in INPUT_SUFFIXES)


def test_a_labels_file_renames_the_predictions(demo_window, qtbot, tmp_path) -> None:
    w = demo_window
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"thing {i}" for i in range(1000)))
    with qtbot.waitSignal(w.state.predictionsChanged, timeout=LOAD_TIMEOUT_MS):
        w.controller.set_labels(labels)  # the predictions are named again off the GUI thread
    top = w.state.predictions[0]
    assert w.state.labels_source == str(labels) and top.label == f"thing {top.class_index}"
    assert w.input_panel.predictions.table.item(0, 1).text() == f"thing {top.class_index}"
    assert w.attribution.target.class_box.itemText(3) == "3: thing 3"
    assert str(labels) in w.model_card.toPlainText()


def test_corrupt_model_shows_message_and_app_stays_usable(make_window, qtbot, tmp_path) -> None:
    w = make_window()
    bad = tmp_path / "vendor.onnx"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with qtbot.waitSignal(w.controller.modelFailed, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([bad, DEMO_IMAGE])
    assert w.infobar.isVisible()
    assert "not an ONNX model" in w.infobar.label.text()
    assert any(n.level == "error" for n in w.notifier.history)
    assert w.state.model is None
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([DEMO_MODEL, DEMO_IMAGE])
    assert w.state.maps is not None and w.mosaic.layout_ is not None


def test_unknown_file_and_bad_image_are_reported(demo_window, qtbot, tmp_path) -> None:
    w = demo_window
    odd = tmp_path / "notes.xyz"
    odd.write_text("x")
    w.open_paths([odd])
    assert "notes.xyz" in w.infobar.label.text()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with qtbot.waitSignal(w.runner.failed, timeout=LOAD_TIMEOUT_MS):
        w.controller.open_image(broken)
    assert "broken.png" in w.infobar.label.text()
    assert w.state.maps is not None  # the previous maps stay shown


def test_exports_and_session_roundtrip(demo_window, make_window, qtbot, tmp_path) -> None:
    from app import export

    w = demo_window
    w.state.select_layer("/_blocks.2/_expand_conv/Conv")
    w.state.select_channel(7)
    w.mosaic.colormap.setCurrentText("turbo")
    w.attribution.select_method("score-cam")
    w.attribution.params.set_value("channels", 12)
    w.attribution.layer.setCurrentText("/_blocks.15/_project_conv/Conv")
    w.attribution.view.opacity.setValue(30)
    w.channel.opacity.setValue(70)
    qtbot.waitUntil(lambda: (w.state.heatmap_opacity, w.state.opacity) == (0.3, 0.7),
                    timeout=2000)
    png = tmp_path / "view.png"
    export.export_view_png(w, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    export.export_channel_npy(w.state, tmp_path / "ch.npy")
    channel = np.load(tmp_path / "ch.npy")
    assert channel.shape == (56, 56) and channel.dtype == np.float32
    export.export_channel_npy(w.state, tmp_path / "layer.npy", whole_layer=True)
    layer = np.load(tmp_path / "layer.npy")
    assert layer.shape == (144, 56, 56) and layer.dtype == np.float32
    # The files hold the values shown: the engine's map of that layer, channel 7 ...
    shown = w.state.maps.layer("/_blocks.2/_expand_conv/Conv").data
    np.testing.assert_array_equal(layer, shown)
    np.testing.assert_array_equal(channel, shown[7])
    assert not np.array_equal(channel, shown[6]) and not np.array_equal(channel, shown[8])
    # ... and the same values as a fresh extraction of only that layer for this model,
    # image and preprocessing (another exposed set may fuse differently: float32 rounding).
    from engine.featuremaps import extract_feature_maps
    from engine.model_io import load_model
    from engine.preprocess import prepare_input

    model = load_model(DEMO_MODEL)
    fresh = extract_feature_maps(model, prepare_input(model.info, DEMO_IMAGE, w.state.spec),
                                 ["/_blocks.2/_expand_conv/Conv"], "cpu").layers[0].data
    np.testing.assert_allclose(channel, fresh[7], rtol=1e-5, atol=1e-5)
    export.export_stats_csv(w.state, tmp_path / "stats.csv")
    lines = (tmp_path / "stats.csv").read_text().splitlines()
    assert lines[0].startswith("layer,channel,min,max")
    assert len(lines) == 1 + sum(m.data.shape[0] for m in w.state.maps.layers)
    session = tmp_path / "work.fsession"
    assert w.actions_.save_session(session)
    data = json.loads(session.read_text())
    assert data["layer"] == "/_blocks.2/_expand_conv/Conv" and data["channel"] == 7
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]

    other = make_window()
    with qtbot.waitSignal(other.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        other.open_paths([session])
    qtbot.waitUntil(lambda: other.state.channel == 7, timeout=5000)
    assert other.state.model.sha256 == w.state.model.sha256
    assert other.state.image_path == DEMO_IMAGE
    assert other.state.spec == w.state.spec
    assert other.state.layer_name == "/_blocks.2/_expand_conv/Conv"
    assert other.state.colormap == "turbo"
    request = other.attribution.request()
    assert request.method == "score-cam" and request.layer == "/_blocks.15/_project_conv/Conv"
    assert dict(request.params)["channels"] == 12
    assert (other.state.heatmap_opacity, other.state.opacity) == (0.3, 0.7)
    assert (other.attribution.view.opacity.value(), other.channel.opacity.value()) == (30, 70)


def test_bad_session_file_is_reported(make_window, tmp_path) -> None:
    w = make_window()
    path = tmp_path / "x.fsession"
    path.write_text("{not json")
    w.open_paths([path])
    assert "not a readable session" in w.infobar.label.text()


def test_settings_persist_between_windows(make_window, qtbot) -> None:
    w = make_window()
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([DEMO_MODEL, DEMO_IMAGE])
    w.mosaic.colormap.setCurrentText("gray")
    w.close()
    again = make_window()
    assert again.state.colormap == "gray"
    assert again.settings.recent("models")[0] == DEMO_MODEL.resolve()
    assert again.actions_.recent_models.actions()


def test_tooltips_on_controls(demo_window) -> None:
    w = demo_window
    for widget in (w.mosaic.normalization, w.mosaic.sort, w.channel.opacity,
                   w.attribution.run_button, w.attribution.cancel_button, w.layer_tree):
        assert widget.toolTip()
    assert w.actions_.run.shortcut().toString() == "Ctrl+R"
