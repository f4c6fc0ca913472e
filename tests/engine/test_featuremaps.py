"""Feature-map extraction: one run, checked outputs, dequantisation, progress, cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.cancellation import CancelToken
from engine.errors import Cancelled, InputError
from engine.featuremaps import extract_feature_maps, model_layers
from engine.graph.constants import ConstantTable
from engine.model_io import load_model
from engine.preprocess import prepare_input
from engine.types import PreparedInput, Progress
from tests.models import example_feeds, plain_cnn


def _run(path: Path, image: Path, **kwargs):
    model = load_model(path)
    return model, extract_feature_maps(model, prepare_input(model.info, image), **kwargs)


def test_demo_all_layers(demo_model: Path, chelsea: Path) -> None:
    _, result = _run(demo_model, chelsea)
    assert len(result.layers) == 49
    assert result.check.passed and result.check.worst < 1e-4
    logits = dict(result.outputs)["logits"]
    assert int(np.argmax(logits)) == 285  # Egyptian cat
    first = result.layers[0]
    assert first.data.shape == (32, 112, 112) and first.data.dtype == np.float32
    assert first.layer.shape == (1, 32, 112, 112)
    assert first.data.min() >= 0.0 and first.data.max() <= 6.0  # ReLU6 (Clip) output
    assert first.stats.mean.shape == (32,)
    assert result.run.provider in ("CPUExecutionProvider", "CUDAExecutionProvider")
    if result.run.provider == "CPUExecutionProvider":
        assert result.run.fallback_reason


def test_layer_selection(demo_model: Path, chelsea: Path) -> None:
    model = load_model(demo_model)
    names = [layer.name for layer in model_layers(model)][10:12]
    result = extract_feature_maps(model, prepare_input(model.info, chelsea), names)
    assert [m.layer.name for m in result.layers] == names
    with pytest.raises(InputError, match="no convolution layer named 'nope'"):
        extract_feature_maps(model, prepare_input(model.info, chelsea), ["nope"])


def test_qoperator_dequantised_with_graph_scale(variant, chelsea: Path) -> None:
    model, result = _run(variant("qoperator"), chelsea)
    assert result.check.passed
    constants = ConstantTable(model.proto.graph)
    node = next(n for n in model.proto.graph.node if n.op_type == "QLinearConv")
    maps = next(m for m in result.layers if m.layer.conv_output == node.output[0])
    assert maps.raw is not None and maps.raw.dtype in (np.uint8, np.int8)
    assert maps.dequantized
    scale = constants.value(node.input[6]).astype(np.float32)
    zero = constants.value(node.input[7]).astype(np.float32)
    np.testing.assert_allclose(maps.data, (maps.raw.astype(np.float32) - zero) * scale)


def test_conv_integer_raw_kept_and_dequantised(variant, chelsea: Path) -> None:
    _, result = _run(variant("dynamic"), chelsea)
    assert result.check.passed
    first = result.layers[0]
    assert first.layer.op_type == "ConvInteger"
    assert first.layer.activation_op == "Cast+Mul+Add (dequantised)+Clip"
    assert first.raw is not None and first.raw.dtype == np.int32
    assert first.dequantized and first.data.dtype == np.float32
    assert first.data.min() >= 0.0 and first.data.max() <= 6.0
    assert first.raw.shape == first.data.shape


def test_qdq_rebuilt_at_lower_level(variant, chelsea: Path) -> None:
    _, result = _run(variant("qdq"), chelsea)
    assert result.check.passed
    assert len(result.layers) == 49
    assert result.run.optimization_level != "all"
    assert any("rebuilt at level" in note for note in result.notes)


@pytest.mark.parametrize("kind", ["fp16", "fp16_io32", "external", "fixed_batch"])
def test_variants_run(variant, chelsea: Path, kind: str) -> None:
    _, result = _run(variant(kind), chelsea)
    assert result.check.passed
    assert len(result.layers) == 49
    assert all(m.data.dtype == np.float32 for m in result.layers)
    assert int(np.argmax(dict(result.outputs)["logits"])) == 285


def test_wrong_declared_shape_is_corrected(tmp_path: Path) -> None:
    model = plain_cnn()
    conv = model_layers_of(model)[0]
    model.graph.value_info.append(
        helper.make_tensor_value_info(conv.tensor, TensorProto.FLOAT, [1, 99, 7, 7]))
    path = tmp_path / "liar.onnx"
    onnx.save_model(model, path)
    loaded = load_model(path)
    prepared = PreparedInput(feeds=tuple(example_feeds(model).items()), display=None,
                             spec=None, source="random")
    result = extract_feature_maps(loaded, prepared)
    real = result.layers[0].layer.shape
    assert real[1] != 99
    assert any("declared shape" in note for note in result.notes)


def model_layers_of(model: onnx.ModelProto):
    from engine.graph.inspect import find_layers

    return find_layers(model)


def test_progress_and_cancel(demo_model: Path, chelsea: Path) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    seen: list[Progress] = []
    extract_feature_maps(model, prepared, progress=seen.append)
    assert seen[-1].done == seen[-1].total
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        extract_feature_maps(model, prepared, cancel=token)


def test_request_id_echoed(demo_model: Path, chelsea: Path) -> None:
    _, result = _run(demo_model, chelsea, layers=["/_conv_stem/Conv"], request_id=42)
    assert result.request_id == 42
