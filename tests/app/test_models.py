"""Models other than the demo: tiny CNNs, 1-D maps, hidden layers, refused models."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from tests.app.conftest import DEMO_IMAGE, LOAD_TIMEOUT_MS


def test_tiny_cnn_without_labels(make_window, tiny_model, qtbot) -> None:
    w = make_window()
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([tiny_model("cnn2d"), DEMO_IMAGE])
    assert len(w.state.maps.layers) == 6
    assert w.state.spec.height == 32
    assert w.state.predictions and w.state.predictions[0].label.startswith("class ")
    for layer in w.state.maps.layers:
        w.state.select_layer(layer.layer.name)
        assert w.mosaic.layout_ is not None


def test_one_dimensional_maps_from_a_tensor_file(make_window, tiny_model, qtbot,
                                                 tmp_path) -> None:
    import onnx

    from tests.models import example_feeds

    path = tiny_model("conv1d")
    feeds = example_feeds(onnx.load(str(path)))
    tensor = tmp_path / "signal.npy"
    np.save(tensor, next(iter(feeds.values())))
    w = make_window()
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([path, tensor])
    layout = w.mosaic.layout_
    assert layout is not None and layout.tile[0] == 1  # one-row images
    w.state.select_channel(0)
    assert w.channel.overlay.image is not None


def test_layers_inside_subgraphs_are_listed_with_the_reason(make_window, tiny_model,
                                                            qtbot) -> None:
    w = make_window()
    w.open_paths([tiny_model("conv_in_if")])
    qtbot.waitUntil(lambda: w.state.model is not None, timeout=LOAD_TIMEOUT_MS)
    hidden = [la for la in w.state.layers if not la.exposable]
    assert hidden
    item = w.layer_tree._items[hidden[0].name]
    assert "cannot be shown" in item.toolTip(0)
    assert "no convolution layer" in w.infobar.label.text()


def test_custom_operator_model_is_refused_with_a_sentence(make_window, tiny_model,
                                                          qtbot) -> None:
    w = make_window()
    with qtbot.waitSignal(w.controller.modelFailed, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([tiny_model("custom_domain_op"), DEMO_IMAGE])
    assert "custom operators" in w.infobar.label.text()
    assert w.state.model is None
