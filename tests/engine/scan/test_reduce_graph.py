"""The in-graph reductions against numpy on maps full of ties: max, first arg-max, mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.featuremaps import model_layers, select_layers
from engine.model_io import load_model
from engine.scan.reduce_graph import reduce_model
from engine.session import create_session
from tests._onnx_build import make_model, value_info


def _tied_maps_model(opset: int = 17) -> onnx.ModelProto:
    """x [N, 3, 9, 7] -> Relu(Conv 1x1 identity): the map is the input, negatives cut to 0."""
    weight = numpy_helper.from_array(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "tied", [value_info("x", ["batch", 3, 9, 7])],
                              [value_info("y", ["batch", 3, 9, 7])], [weight])
    return make_model(graph, opset=opset)


@pytest.mark.parametrize(("row_first", "opset", "locator"), [
    (True, 17, "GatherND"), (False, 17, "TopK"), (True, 9, "ArgMax")],
    ids=["row-first", "topk", "opset9-argmax"])
def test_reductions_give_the_first_arg_max_in_row_major_order(
        tmp_path: Path, row_first: bool, opset: int, locator: str) -> None:
    path = tmp_path / "tied.onnx"
    onnx.save(_tied_maps_model(opset), path)
    model = load_model(path)
    layers = select_layers(model_layers(model), None)
    assert len(layers) == 1 and layers[0].spatial_rank == 2
    reduced = reduce_model(model, layers, {layers[0].tensor: TensorProto.FLOAT},
                           {layers[0].tensor: 7}, row_first=row_first)
    ops = {node.op_type for node in reduced.proto.graph.node}
    assert locator in ops and not ({"GatherND", "TopK"} - {locator}) & ops
    assert [o.name for o in reduced.proto.graph.output][-2:] == list(reduced.fetch)
    # Small integers: maxima tie within rows, across rows and (all zeros) everywhere.
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 3, (16, 3, 9, 7)).astype(np.float32)
    x[0, 0] = -1.0  # a dead map: every position is the maximum 0
    x[1, 1] = 2.0  # a saturated map
    session = create_session(reduced.proto, "cpu")
    out = session.run({"x": x}, fetch=list(reduced.fetch))
    values, places = out[reduced.values], out[reduced.places]
    assert values.dtype == np.float32 and places.dtype == np.int64
    assert values.shape == places.shape == (16, 6)  # 3 channels: maxima|means, rows|columns
    maps = np.maximum(x, 0).reshape(16, 3, -1)
    np.testing.assert_array_equal(values[:, :3], maps.max(axis=2))
    first = maps.argmax(axis=2)
    np.testing.assert_array_equal(places[:, :3], first // 7)  # the row of the first arg-max
    np.testing.assert_array_equal(places[:, 3:], first % 7)  # and its column
    np.testing.assert_allclose(values[:, 3:], maps.mean(axis=2), rtol=1e-6)
    ties_across_rows = sum(
        int((maps[n, c].reshape(9, 7).max(axis=1) == maps[n, c].max()).sum() > 1)
        for n in range(16) for c in range(3))
    assert ties_across_rows > 20  # the case row and column maxima alone get wrong


def _two_layer_model() -> onnx.ModelProto:
    """x [N, 2, 5] -> Relu(Conv1d identity) = a, then Conv2d over [N, 2, 4, 6] input z = b."""
    eye1 = numpy_helper.from_array(np.eye(2, dtype=np.float32).reshape(2, 2, 1), "w1")
    eye2 = numpy_helper.from_array(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1d"),
             helper.make_node("Conv", ["z", "w2"], ["b"], name="conv2d")]
    graph = helper.make_graph(nodes, "two", [value_info("x", ["batch", 2, 5]),
                                             value_info("z", ["batch", 3, 4, 6])],
                              [value_info("a", ["batch", 2, 5]),
                               value_info("b", ["batch", 3, 4, 6])], [eye1, eye2])
    return make_model(graph)


@pytest.mark.parametrize("widths", [True, False], ids=["widths-given", "widths-unknown"])
def test_layers_are_packed_side_by_side_in_layer_order(tmp_path: Path, widths: bool) -> None:
    """A 1-D and a 2-D layer: maxima|means and rows|columns, layer after layer, vs numpy."""
    path = tmp_path / "two.onnx"
    onnx.save(_two_layer_model(), path)
    model = load_model(path)
    layers = select_layers(model_layers(model), None)
    assert [layer.spatial_rank for layer in layers] == [1, 2]
    reduced = reduce_model(model, layers, None,
                           {layers[0].tensor: 5, layers[1].tensor: 6} if widths else None)
    rng = np.random.default_rng(1)
    x = rng.integers(-2, 3, (4, 2, 5)).astype(np.float32)
    z = rng.integers(-2, 3, (4, 3, 4, 6)).astype(np.float32)
    out = create_session(reduced.proto, "cpu").run({"x": x, "z": z}, fetch=list(reduced.fetch))
    values, places = out[reduced.values], out[reduced.places]
    flat = [x, z.reshape(4, 3, -1)]
    maxima = np.concatenate([m.max(axis=2) for m in flat], axis=1)
    first = [m.argmax(axis=2) for m in flat]
    rows = np.concatenate([np.zeros_like(first[0]), first[1] // 6], axis=1)
    columns = np.concatenate([first[0], first[1] % 6], axis=1)
    means = np.concatenate([m.mean(axis=2) for m in flat], axis=1)
    np.testing.assert_array_equal(values[:, :5], maxima)
    np.testing.assert_allclose(values[:, 5:], means, rtol=1e-6)
    np.testing.assert_array_equal(places[:, :5], rows)
    np.testing.assert_array_equal(places[:, 5:], columns)
