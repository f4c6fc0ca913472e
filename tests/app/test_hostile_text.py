"""Names, metadata, file names and messages from untrusted files are shown literally."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import Qt, QTextDocument
from PySide6.QtWidgets import QLabel, QWidget

from tests.app.conftest import DEMO_IMAGE, LOAD_TIMEOUT_MS
from tests.models import cnn2d

BOLD, IMG, AMP = "conv1 <b>bold</b>", "conv2 <img src=x>", "conv3 & co &amp; <i>dw</i>"
#: Markup that the hostile files carry; rich text must hold it only escaped.
TAGS = ("<b>bold", "<img src=x>", "<i>dw", "<b>key", "<img src=y>", "<b>value", "<b>producer",
        "<u>graph", "<b>file", "<i>it")


def shown(text: str, plain: bool) -> str:
    """What Qt displays for ``text`` (a label's or tool tip's rich-text detection)."""
    if plain or not Qt.mightBeRichText(text):
        return text
    doc = QTextDocument()
    doc.setHtml(text)
    return doc.toPlainText()


def assert_literal(text: str, plain: bool, where: str) -> None:
    """Text Qt renders as rich text holds no unescaped tag from the hostile files."""
    if plain or not Qt.mightBeRichText(text):
        return  # shown exactly as it is
    for tag in TAGS:
        assert tag not in text, f"{where}: {tag!r} would be rendered as markup in {text!r}"


def hostile_model(folder: Path) -> Path:
    """The tiny CNN with markup in node names, metadata, producer, graph and file name.

    (A file name cannot hold ``/``, so it carries opening tags only.)
    """
    model = cnn2d()
    renames = {"conv1": BOLD, "conv2": IMG, "conv3_dw": AMP}
    for node in model.graph.node:
        node.name = renames.get(node.name, node.name)
    model.producer_name = "<b>producer</b>"
    model.graph.name = "<u>graph</u>"
    onnx.helper.set_model_props(model, {"<b>key</b>": "<img src=y> & <b>value</b>",
                                        "labels": "../outside/secret-labels.txt"})
    path = folder / "models" / "vendor <b>file & co.onnx"
    path.parent.mkdir(parents=True)
    onnx.save(model, str(path))
    outside = folder / "outside"
    outside.mkdir()
    (outside / "secret-labels.txt").write_text("\n".join(f"secret {i}" for i in range(10)))
    return path


def sweep(window: QWidget) -> None:
    """Every label and tool tip of the window shows the hostile markup literally."""
    for widget in [window, *window.findChildren(QWidget)]:
        if isinstance(widget, QLabel):
            plain = widget.textFormat() == Qt.TextFormat.PlainText
            assert_literal(widget.text(), plain, f"label {widget.objectName() or widget}")
        assert_literal(widget.toolTip(), False, f"tool tip of {type(widget).__name__}")


def test_markup_in_names_metadata_and_file_names_is_shown_literally(make_window, qtbot,
                                                                    tmp_path) -> None:
    model = hostile_model(tmp_path)
    image = tmp_path / "cat <i>it & co.png"
    shutil.copy(DEMO_IMAGE, image)
    w = make_window()
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([model, image])
    state = w.state
    assert [la.name for la in state.layers][:3] == [BOLD, IMG, AMP]
    # metadata never names a path: the labels file outside the model's folder is not read
    assert state.labels_source == "" and state.predictions[0].label.startswith("class ")

    card = w.model_card.toPlainText()
    for text in ("<b>key</b>", "<img src=y> & <b>value</b>", "<b>producer</b>",
                 "<u>graph</u>", "vendor <b>file & co.onnx"):
        assert text in card
    assert "<img" not in w.model_card.toHtml() and "<u>" not in w.model_card.toHtml()

    tree = w.layer_tree
    for name in (BOLD, IMG, AMP):
        item = tree._items[name]
        assert item.text(0) == name
        assert name in shown(item.toolTip(0), False)
    assert "cat <i>it & co.png" in w.input_panel.source.text()
    assert "vendor <b>file & co.onnx" in w.windowTitle()

    for name in (BOLD, IMG, AMP):
        state.select_layer(name)
        state.select_channel(1)
        assert w.mosaic.title.text().startswith(name)
        assert w.channel.title.text().startswith(name)
        assert name in shown(w.overview._rich_tip(0, 0, name), False)
        sweep(w)

    panel = w.attribution
    assert panel.select_method("eigen-cam")
    panel.layer.setCurrentText(IMG)
    with qtbot.waitSignal(w.controller.attributionReady, timeout=LOAD_TIMEOUT_MS):
        panel.run()
    assert "conv2 <img src=x>" in panel.view.title.text()
    assert IMG in shown(panel.view._small[0].view.toolTip(), False)
    sweep(w)


def test_error_messages_quote_file_names_literally(make_window, qtbot, tmp_path) -> None:
    bad = tmp_path / "bad <b>file & <img src=x>.onnx"
    bad.write_bytes(b"\x00not a model")
    w = make_window()
    with qtbot.waitSignal(w.controller.modelFailed, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([bad, DEMO_IMAGE])
    label = w.infobar.label
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert "bad <b>file & <img src=x>.onnx" in label.text()
    sweep(w)


def test_recent_file_names_with_ampersands_are_not_mnemonics(make_window, qtbot,
                                                            tmp_path) -> None:
    model = hostile_model(tmp_path)
    w = make_window()
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([model, DEMO_IMAGE])
    texts = [a.text() for a in w.actions_.recent_models.actions()]
    assert texts == [str(model.resolve()).replace("&", "&&")]
