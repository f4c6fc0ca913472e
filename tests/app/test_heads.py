"""Any vendor model, not only classifiers (issue 10, the window side).

The input spec comes from the model with a reason per part; symbolic dims are resolved
at the chosen size; the predictions of every head kind are listed and drawn over the
input in the displayed image's coordinates; clicks and drags there choose the target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("PySide6")

from PIL import Image
from PySide6.QtCore import Qt

from app.views.overlay_geometry import region_cells, to_display_box
from engine.attribution.activations import default_layer
from engine.attribution.target_text import parse_target
from engine.featuremaps import model_layers
from tests._head_models import yolov8_blob_detector
from tests._onnx_build import GraphBuilder, make_model, value_info
from tests.app.conftest import LOAD_TIMEOUT_MS

RUN_TIMEOUT_MS = 120_000


def open_and_wait(window, qtbot, *paths: Path) -> None:
    with qtbot.waitSignal(window.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        window.open_paths(list(paths))


@pytest.fixture
def blob(tmp_path: Path) -> tuple[Path, Path]:
    """The synthetic YOLOv8 blob detector and a 128x64 image whose white patch it finds.

    Letterboxed to 32x32 (scale 1/4, 8 rows of padding on top and bottom), original
    rows 0..32 and columns 64..96 become the detector's region: display rows 8..16,
    columns 16..24.
    """
    model = tmp_path / "blob_detector.onnx"
    onnx.save(yolov8_blob_detector(), str(model))
    pixels = np.zeros((64, 128, 3), np.uint8)
    pixels[0:32, 64:96] = 255
    image = tmp_path / "patch.png"
    Image.fromarray(pixels).save(image)
    return model, image


def gray_model(folder: Path) -> Path:
    """A one-channel CNN with a free input size: [batch, 1, height, width]."""
    g = GraphBuilder(3)
    x = g.op("Relu", [g.conv("input", 1, 4, 3, name="c1")])
    x = g.op("Relu", [g.conv(x, 4, 6, 3, stride=2, name="c2")])
    logits = g.head(x, 6, 3)
    graph = g.graph("gray", [value_info("input", ["batch", 1, "height", "width"])],
                    [value_info("logits", ["batch", 3])], logits)
    path = folder / "gray.onnx"
    onnx.save(make_model(graph), str(path))
    return path


def text_line(folder: Path, text: str = "Feature maps 2024") -> Path:
    """A rendered black-on-white text line (what a text recogniser reads)."""
    from PIL import ImageDraw, ImageFont

    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 40)
    except OSError:
        font = ImageFont.load_default(size=40)
    width = int(font.getlength(text)) + 24
    image = Image.new("RGB", (width, 64), "white")
    ImageDraw.Draw(image).text((12, 8), text, fill="black", font=font)
    path = folder / "line.png"
    image.save(path)
    return path


def test_spec_is_proposed_by_the_model_with_its_reasons(make_window, qtbot, real_model,
                                                        photo) -> None:
    model, image = real_model("nudenet_320n_yolov8_ultralytics"), photo("astronaut")
    w = make_window()
    open_and_wait(w, qtbot, model, image)
    editor = w.input_panel.editor
    spec = w.state.spec
    assert spec.preset == "yolo" and (spec.height, spec.width) == (320, 320)
    assert editor.reasons["size"].text() == "320x320 from metadata imgsz"
    assert "Ultralytics metadata" in editor.reasons["preset"].text()
    assert not editor.reasons["size"].isHidden()
    assert "metadata imgsz" in w.state.prepared.spec_reason  # into manifests too
    # resize modes: the engine's list, keep_aspect in words
    modes = {editor.resize.itemData(i): editor.resize.itemText(i)
             for i in range(editor.resize.count())}
    assert modes["keep_aspect"] == "fixed height, keep aspect ratio"
    # the user's size is remembered, and said to differ from the model's
    editor.height_box.setValue(256)
    editor.width_box.setValue(256)
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        editor._emit()
    assert editor.reasons["size"].text() == ("your choice; the model proposes 320x320 from "
                                             "metadata imgsz")
    # the yolo preset takes its size from the model again
    editor.preset.setCurrentText("imagenet")
    editor._preset_chosen(0)
    editor.preset.setCurrentText("yolo")
    editor._preset_chosen(0)
    assert (editor.height_box.value(), editor.width_box.value()) == (320, 320)
    editor._timer.stop()
    w.close()
    again = make_window()
    open_and_wait(again, qtbot, model, image)
    assert (again.state.spec.height, again.state.spec.width) == (256, 256)  # remembered
    assert again.input_panel.editor.reasons["size"].text().startswith(
        "remembered from your last use of this model; the model proposes 320x320")


def test_one_channel_model_offers_grayscale_and_every_view_has_real_sizes(
        make_window, qtbot, tmp_path) -> None:
    from tests.app.conftest import DEMO_IMAGE

    w = make_window()
    open_and_wait(w, qtbot, gray_model(tmp_path), DEMO_IMAGE)
    editor = w.input_panel.editor
    assert [editor.order.itemText(i) for i in range(editor.order.count())] == ["Grayscale"]
    assert w.state.spec.channels == 1
    assert editor.reasons["channels"].text() == "one-channel input: grayscale"
    size = w.state.spec.height
    declared = model_layers(w.state.model)[0].shape
    assert any(not isinstance(d, int) for d in declared)  # symbolic in the graph
    c1, c2 = size, size // 2  # 3x3 same padding, then stride 2
    # the catalogue declares symbolic dims; every view shows them resolved at this size
    assert [la.shape[1:] for la in w.state.layers] == [(4, c1, c1), (6, c2, c2)]
    assert [tuple(m.data.shape) for m in w.state.maps.layers] == [(4, c1, c1), (6, c2, c2)]
    tree = w.layer_tree
    assert tree._items["c1"].text(2) == f"4×{c1}×{c1}"
    assert tree._items["c2"].text(2) == f"6×{c2}×{c2}"
    w.state.select_layer("c2")
    assert f"6 ch, {c2} px" in w.overview.info.text() and "nan" not in w.overview.info.text()
    assert np.isfinite(w.overview.size_points.data["y"]).all()
    assert len(w.overview.size_points.data) == 2
    card = w.model_card.toPlainText()
    assert f"fed as 1×1×{size}×{size}" in card and "gives 1×3" in card
    # a new size: the shapes follow
    editor.height_box.setValue(40)
    editor.width_box.setValue(40)
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        editor._emit()
    assert tree._items["c1"].text(2) == "4×40×40" and tree._items["c2"].text(2) == "6×20×20"
    assert "6 ch, 20 px" in w.overview.info.text()


def test_detections_are_listed_drawn_and_chosen_by_clicking(make_window, qtbot, blob) -> None:
    model, image = blob
    w = make_window()
    open_and_wait(w, qtbot, model, image)
    state = w.state
    assert state.predicted.head.kind == "dense-detection"
    top = state.predictions[0]
    assert top.label == "blob" and top.score > 0.99
    np.testing.assert_allclose(top.box, (64, 0, 96, 32), atol=0.6)  # original pixels
    # the list: the head in words, one row per detection, never "class N" for a box
    panel = w.input_panel.predictions
    assert panel.head.text().startswith("Detector: ")
    assert panel.table.item(0, 1).text() == "blob"
    assert "class " not in panel.table.item(0, 1).text()
    # drawn in the displayed (model-input) image's pixels: the transform's forward mapping
    view = w.input_panel.view
    assert w.state.prepared.display.shape[:2] == (32, 32)
    np.testing.assert_allclose(view._boxes[0], (16, 8, 24, 16), atol=0.2)
    np.testing.assert_allclose(view._boxes[0], to_display_box(top.box,
                                                              state.prepared.transform))
    assert "blob 1.00" in view._labels[0].toPlainText()
    # the attribution form offers the predictions; the top one is the default target
    editor = w.attribution.target
    assert editor.prediction.itemText(0) == "0: blob 1.00"
    assert w.attribution.request().target == parse_target(top.target)
    # clicking outside any box chooses nothing; clicking inside the box chooses it
    state.choose_target("output0:4,0")  # some other element
    viewport = view.graphics.viewport()
    outside = view.graphics.mapFromScene(view.scene_position(4, 28))
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=outside)
    assert state.target == "output0:4,0"
    inside = view.graphics.mapFromScene(view.scene_position(20, 12))
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=inside)
    assert state.target == top.target
    assert editor.kind.currentData() == "prediction" and editor.prediction.currentIndex() == 0
    assert panel.table.selectionModel().selectedRows()[0].row() == 0
    xs, ys = view.chosen.getData()
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == pytest.approx((16, 8, 24, 16), abs=0.2)


def test_predict_runs_once_per_change(make_window, qtbot, blob, monkeypatch) -> None:
    from app import input_run

    calls: list[str] = []
    real = input_run.predict

    def counting(model, prepared, *args, **kwargs):
        calls.append(Path(prepared.source).name)
        return real(model, prepared, *args, **kwargs)

    monkeypatch.setattr(input_run, "predict", counting)
    model, image = blob
    w = make_window()
    open_and_wait(w, qtbot, model, image)
    assert calls == ["patch.png"]
    w.input_panel.editor.resize.setCurrentIndex(w.input_panel.editor.resize.findData("stretch"))
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.input_panel.editor._emit()
    assert calls == ["patch.png"] * 2
    w.state.select_layer(w.state.layer_name or "")
    w.state.choose_target(None)
    qtbot.wait(50)
    assert len(calls) == 2  # selections and targets run nothing


def test_text_line_is_read_under_the_line_and_characters_are_targets(
        make_window, qtbot, real_model, tmp_path) -> None:
    w = make_window()
    line = text_line(tmp_path)
    open_and_wait(w, qtbot, real_model("ppocrv4_rec_svtr_ctc"), line)
    state, view = w.state, w.input_panel.view
    assert state.spec.resize == "keep_aspect"
    assert state.predicted.head.kind == "ctc"
    reading = state.predictions[0]
    assert reading.text == "Feature maps 2024"
    assert view.reading.isVisible() or not view.reading.isHidden()
    assert "Feature maps 2024" in view.reading.text()
    characters = [item.label for item in state.predictions[1:]]
    height = state.prepared.display.shape[0]
    shown = [(label.toPlainText(), label.pos().y()) for label in view._labels]
    # each character under the line (a space shows as a gap)
    assert [text.strip() for text, _y in shown] == [c.strip() for c in characters]
    assert all(y >= height for _t, y in shown)
    assert w.attribution.target.prediction.itemText(0).startswith("0: “Feature maps 2024”")
    # a click in the column of the "m" makes that character the target
    m = next(i for i, item in enumerate(state.predictions[1:]) if item.label == "m")
    x, _ = view._points[m]
    qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.graphics.mapFromScene(view.scene_position(x, height / 2)))
    assert state.target == state.predictions[1 + m].target
    assert w.attribution.target.words() == "'m'"


def test_map_output_is_overlaid_and_a_dragged_region_is_the_target(
        make_window, qtbot, real_model, photo) -> None:
    w = make_window()
    open_and_wait(w, qtbot, real_model("ppocrv4_det_dbnet"), photo("page"))
    state, view = w.state, w.input_panel.view
    assert state.predicted.head.kind == "map"
    output = state.predicted.head.output
    assert view.score.image is not None and view.score.image.shape == (224, 224)
    assert view.colorbar.isVisible()
    low, high = view.colorbar.levels()
    assert 0.0 <= low < high <= 1.0 + 1e-6  # a probability map
    assert view._boxes  # the text regions it found, outlined
    # drag a rectangle with the mouse over the map
    viewport = view.graphics.viewport()
    start = view.graphics.mapFromScene(view.scene_position(20, 30))
    end = view.graphics.mapFromScene(view.scene_position(120, 60))
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(viewport, start + (end - start) * step / 5)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    assert state.target is not None and "@" in state.target, state.target
    cells = parse_target(state.target).box
    expected = region_cells((20, 30, 120, 60), (224, 224), (224, 224))
    assert cells == pytest.approx(expected, abs=2)
    assert state.target.startswith(f"{output}:0@")
    editor = w.attribution.target
    assert editor.kind.currentData() == "region"
    assert (editor.top.value(), editor.left.value()) == (cells[0], cells[1])
    assert (editor.bottom.value() + 1, editor.right.value() + 1) == (cells[2], cells[3])
    request = w.attribution.request()
    assert request.target.kind == "region" and request.target.box == cells
    assert request.target.output == output
    assert "region rows" in editor.words()


def test_a_detection_target_defaults_to_the_layer_before_its_head_branch(
        make_window, qtbot, real_model, photo) -> None:
    w = make_window()
    open_and_wait(w, qtbot, real_model("nudenet_320n_yolov8_ultralytics"), photo("astronaut"))
    state, panel = w.state, w.attribution
    top = state.predictions[0]
    assert top.stride > 0 and top.box is not None
    shapes = {name: tuple(v.shape) for name, v in state.prepared.feeds}
    expected = default_layer(state.model, shapes, stride=top.stride).name
    assert panel.select_method("eigen-cam")
    assert panel.layer.currentText() == expected
    assert panel.request().layer == expected
    # any 4-D tensor is a CAM layer: typed with completion, planned and run by the engine
    completions = panel._layer_names.stringList()
    block = next(t for t in state.tensors if t.endswith("Concat_output_0"))
    assert expected in completions and block in completions
    panel.layer.setEditText(block)
    panel.update_cost()
    assert panel.cost.text().startswith("Cost: "), panel.cost.text()
    with qtbot.waitSignal(w.controller.attributionReady, timeout=RUN_TIMEOUT_MS) as ready:
        panel.run()
    result = ready.args[0]
    assert result.layer == block and result.target == parse_target(top.target)
    assert panel.eta.text().startswith(f"Eigen-CAM of '{top.label}' at layer ")
    # back to the default: empty field, the engine's layer for this detection again
    panel.layer.setEditText("")
    assert panel.request().layer in (None, expected)
