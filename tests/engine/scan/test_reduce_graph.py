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


def _tied_maps_model() -> onnx.ModelProto:
    """x [N, 3, 9, 7] -> Relu(Conv 1x1 identity): the map is the input, negatives cut to 0."""
    weight = numpy_helper.from_array(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "tied", [value_info("x", ["batch", 3, 9, 7])],
                              [value_info("y", ["batch", 3, 9, 7])], [weight])
    return make_model(graph)


@pytest.mark.parametrize("row_first", [True, False], ids=["row-first", "topk"])
def test_reductions_give_the_first_arg_max_in_row_major_order(tmp_path: Path,
                                                              row_first: bool) -> None:
    path = tmp_path / "tied.onnx"
    onnx.save(_tied_maps_model(), path)
    model = load_model(path)
    layers = select_layers(model_layers(model), None)
    assert len(layers) == 1 and layers[0].spatial_rank == 2
    reduced = reduce_model(model, layers, {layers[0].tensor: TensorProto.FLOAT},
                           {layers[0].tensor: 7} if row_first else None)
    ops = {node.op_type for node in reduced.proto.graph.node}
    assert ("GatherND" in ops) == row_first and ("TopK" in ops) != row_first
    # Small integers: maxima tie within rows, across rows and (all zeros) everywhere.
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 3, (16, 3, 9, 7)).astype(np.float32)
    x[0, 0] = -1.0  # a dead map: every position is the maximum 0
    x[1, 1] = 2.0  # a saturated map
    session = create_session(reduced.proto, "cpu")
    out = session.run({"x": x}, fetch=list(reduced.fetch))
    r = reduced.layers[0]
    maps = np.maximum(x, 0).reshape(16, 3, -1)
    np.testing.assert_array_equal(out[r.max].reshape(16, 3), maps.max(axis=2))
    first = maps.argmax(axis=2)
    if row_first:  # the row and the column of the first arg-max
        np.testing.assert_array_equal(out[r.argmax].reshape(16, 3), first // 7)
        np.testing.assert_array_equal(out[r.column].reshape(16, 3), first % 7)
    else:  # the flat row-major index
        assert not r.column
        np.testing.assert_array_equal(out[r.argmax].reshape(16, 3), first)
    np.testing.assert_allclose(out[r.mean].reshape(16, 3), maps.mean(axis=2), rtol=1e-6)
    ties_across_rows = sum(
        int((maps[n, c].reshape(9, 7).max(axis=1) == maps[n, c].max()).sum() > 1)
        for n in range(16) for c in range(3))
    assert ties_across_rows > 20  # the case row and column maxima alone get wrong
