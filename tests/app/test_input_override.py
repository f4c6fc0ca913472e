"""A fully convolutional model declaring placeholder dims runs at the size the user chooses."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx

from tests._onnx_build import GraphBuilder, make_model, value_info
from tests.app.conftest import DEMO_IMAGE, LOAD_TIMEOUT_MS


def _fcn(path: Path) -> Path:
    g = GraphBuilder(3)
    x = g.op("Relu", [g.conv("image", 3, 4, 3, name="conv1")])
    score = g.op("Sigmoid", [g.conv(x, 4, 1, 1, name="score")])
    onnx.save_model(make_model(g.graph("fcn", [value_info("image", [1, 3, 32, 32])],
                                       [value_info("map", [1, 1, 32, 32])], score)), path)
    return path


def test_a_chosen_size_rewrites_placeholder_dims_and_says_so(make_window, qtbot,
                                                              tmp_path: Path) -> None:
    window = make_window()
    with qtbot.waitSignal(window.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        window.open_paths([_fcn(tmp_path / "fcn.onnx"), DEMO_IMAGE])
    assert window.state.maps.layers[0].data.shape == (4, 32, 32)
    messages: list[str] = []
    window.notifier.notified.connect(lambda *args: messages.append(str(args)))
    spec = replace(window.state.spec, height=64, width=48)
    with qtbot.waitSignal(window.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        window.controller.set_spec(spec)
    state = window.state
    assert state.model.info.inputs[0].shape == (1, 3, 64, 48)
    assert state.maps.layers[0].data.shape == (4, 64, 48)
    assert np.all(np.isfinite(state.maps.layers[1].data))
    assert any("rewritten to take 64x48" in m for m in messages)
    assert "rewritten to take 64x48" in state.prepared.spec_reason
