"""Input specs proposed from the model, image transforms, fixed batches and concrete shapes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest

from engine.cli import main
from engine.featuremaps import extract_feature_maps, input_shapes_for, layers_at_size
from engine.input_proposal import literal, propose_input_spec
from engine.input_spec import apply_preset
from engine.model_io import load_model
from engine.preprocess import image_to_tensor, prepare_input
from engine.types import InputSpec
from tests._onnx_build import GraphBuilder, make_model, value_info


def _save(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    path = folder / f"{name}.onnx"
    onnx.save_model(model, path)
    return path


def _cnn(shape: list[object], prefix: str | None = None, seed: int = 0) -> onnx.ModelProto:
    """A conv + global pooling classifier; ``prefix`` "div255" puts a Div by 255 first."""
    g = GraphBuilder(seed)
    x = "image"
    channels = shape[1] if isinstance(shape[1], int) else 3
    if prefix == "div255":
        x = g.op("Div", [x, g.const("scale", np.array(255.0, np.float32))])
    x = g.op("Relu", [g.conv(x, int(channels), 4, 3, name="conv1")])
    logits = g.head(x, 4, 3)
    return make_model(g.graph("cnn", [value_info("image", shape)],
                              [value_info("logits", [shape[0], 3])], logits))


def test_metadata_literals_are_never_evaluated() -> None:
    assert literal("[320, 320]") == [320, 320]
    assert literal("{0: 'person', 1: 'car'}") == {0: "person", 1: "car"}
    assert literal("__import__('os').system('true')") is None
    assert literal("x" * 3_000_000) is None


def test_graph_that_scales_pixels_itself_gets_raw_pixels(tmp_path: Path) -> None:
    model = load_model(_save(_cnn(["batch", 3, 64, 64], "div255"), tmp_path, "div"))
    proposal = propose_input_spec(model)
    assert proposal.spec.preset == "raw" and proposal.spec.scale == "0..255"
    assert "the graph divides the input by 255 itself" in proposal.reason("preset")
    assert proposal.reason("size") == "64x64 fixed by the graph"


def test_text_line_and_grayscale_proposals(tmp_path: Path) -> None:
    model = load_model(_save(_cnn(["batch", 1, 32, "width"]), tmp_path, "line"))
    proposal = propose_input_spec(model)
    assert proposal.spec.resize == "keep_aspect" and proposal.spec.height == 32
    assert proposal.spec.channels == 1
    assert "fixed height 32 and a free width" in proposal.reason("resize")
    assert proposal.reason("channels") == "one-channel input: grayscale"


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "center_crop", "keep_aspect"])
def test_transform_maps_original_pixels_onto_the_input(mode: str) -> None:
    pixels = np.zeros((90, 160, 3), np.float32)
    pixels[30:40, 100:120] = 255.0  # a bright block at known original pixels
    spec = InputSpec(height=48, width=64, resize=mode, scale="0..255")  # type: ignore[arg-type]
    tensor, _, transform = image_to_tensor(pixels, spec, free_width=mode == "keep_aspect")
    bright = np.argwhere(tensor[0, 0] > 127)
    y0, x0 = bright.min(axis=0)
    y1, x1 = bright.max(axis=0) + 1
    oy0, ox0 = transform.to_original(float(y0), float(x0))
    oy1, ox1 = transform.to_original(float(y1), float(x1))
    # the block comes back where it was, within the resampling blur (a model pixel)
    tol = max(1 / transform.scale[0], 1 / transform.scale[1]) + 0.5
    assert (oy0, ox0, oy1, ox1) == pytest.approx((30, 100, 40, 120), abs=tol)


def test_keep_aspect_widens_a_free_width_and_pads_with_zeros() -> None:
    pixels = np.full((20, 300, 3), 255.0, np.float32)
    spec = replace(apply_preset(InputSpec(height=10, width=64), "paddle"), resize="keep_aspect")
    wide, _, transform = image_to_tensor(pixels, spec, free_width=True)
    assert wide.shape == (1, 3, 10, 150) and transform.input_size == (10, 150)
    narrow_pixels = np.full((20, 40, 3), 255.0, np.float32)
    padded, _, _ = image_to_tensor(narrow_pixels, spec, free_width=True)
    assert padded.shape == (1, 3, 10, 64)
    np.testing.assert_allclose(padded[0, :, :, :20], 1.0)  # white: (1 - 0.5) / 0.5
    np.testing.assert_array_equal(padded[0, :, :, 20:], 0.0)  # zeros in tensor space


def test_fixed_batch_larger_than_one_is_filled(tmp_path: Path,
                                               chelsea: Path) -> None:
    model = load_model(_save(_cnn([10, 3, 32, 32]), tmp_path, "batch10"))
    prepared = prepare_input(model.info, chelsea, replace(propose_input_spec(model).spec))
    (_, value), = prepared.feeds
    assert value.shape == (10, 3, 32, 32) and np.all(value == value[:1])
    assert any("fixed batch of 10" in w for w in prepared.warnings)
    result = extract_feature_maps(model, prepared, preference="cpu")
    assert result.layers[0].data.shape == (4, 32, 32)


def test_symbolic_shapes_are_resolved_for_the_chosen_size(
        real_model: Callable[[str], Path], photo: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    path = real_model("ppocrv4_det_dbnet")
    model = load_model(path)
    layers = layers_at_size(model, input_shapes_for(model, 96, 160))
    assert all(layer.shape is not None and all(isinstance(d, int) for d in layer.shape)
               for layer in layers)
    spec = replace(apply_preset(InputSpec(height=96, width=160), "paddle"))
    real = extract_feature_maps(model, prepare_input(model.info, photo("page"), spec),
                                preference="cpu")
    assert {m.layer.name: m.layer.shape for m in real.layers} == {
        layer.name: layer.shape for layer in layers}
    assert main(["inspect", str(path), "--size", "96x160", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input"]["size"] == [96, 160]
    assert data["layers"][-1]["shape"] == [1, 1, 96, 160]


def test_ultralytics_names_and_imgsz(tmp_path: Path) -> None:
    model_proto = _cnn(["batch", 3, "h", "w"])
    for key, value in (("imgsz", "[320, 256]"), ("names", "{0: 'a', 1: 'b', 2: 'c'}"),
                       ("task", "classify")):
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, value
    model = load_model(_save(model_proto, tmp_path, "ultra"))
    proposal = propose_input_spec(model)
    assert (proposal.spec.height, proposal.spec.width) == (320, 256)
    assert proposal.reason("size") == "320x256 from metadata imgsz"


def _fully_convolutional(height: int, width: int) -> onnx.ModelProto:
    """Two convs and a 1x1 score map, declaring a fixed (placeholder) input size."""
    g = GraphBuilder(3)
    x = g.op("Relu", [g.conv("image", 3, 4, 3, name="conv1")])
    score = g.op("Sigmoid", [g.conv(x, 4, 1, 1, name="score")])
    return make_model(g.graph("fcn", [value_info("image", [1, 3, height, width])],
                              [value_info("map", [1, 1, height, width])], score))


def test_placeholder_dims_of_a_fully_convolutional_graph_are_rewritten(
        tmp_path: Path, chelsea: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _save(_fully_convolutional(32, 32), tmp_path, "fcn")
    out = tmp_path / "maps"
    assert main(["maps", str(path), str(chelsea), "--size", "64x48", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input"]["size"] == [64, 48]
    assert "declares a 32x32 input; its fully convolutional graph was rewritten to take 64x48" \
        in manifest["input"]["reason"]
    shapes = {layer["name"]: layer["shape"] for layer in manifest["layers"]}
    assert shapes["conv1"] == [1, 4, 64, 48] and shapes["score"] == [1, 1, 64, 48]
    # the same map as an independent run of the graph with the input dims set by hand
    model = onnx.load(path)
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 64
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 48
    model.graph.output[0].type.tensor_type.shape.dim[2].dim_value = 64
    model.graph.output[0].type.tensor_type.shape.dim[3].dim_value = 48
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    spec = replace(propose_input_spec(load_model(path)).spec, height=64, width=48)
    from engine.input_override import at_input_size

    loaded, note = at_input_size(load_model(path), 64, 48)
    assert note
    feeds = prepare_input(loaded.info, chelsea, spec).feed_dict()
    expected = session.run(None, feeds)[0][0]
    entry = next(layer for layer in manifest["layers"] if layer["name"] == "score")
    np.testing.assert_allclose(np.load(out / entry["files"]["channels"]), expected, rtol=1e-5,
                               atol=1e-6)
    capsys.readouterr()


def test_a_graph_that_is_not_fully_convolutional_is_refused(
        tmp_path: Path, chelsea: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _save(_cnn([1, 3, 32, 32]), tmp_path, "fixed")  # conv, pooling, then a Gemm: fine
    assert main(["maps", str(path), str(chelsea), "--size", "64x64", "--out",
                 str(tmp_path / "ok")]) == 0  # global pooling makes it size-agnostic
    g = GraphBuilder(4)
    x = g.op("Relu", [g.conv("image", 3, 2, 3, name="conv1")])
    flat = g.op("Reshape", [x, g.const("shape", np.array([1, 2 * 32 * 32], np.int64))])
    logits = g.op("MatMul", [flat, g.const("w", np.ones((2 * 32 * 32, 3), np.float32))])
    rigid = make_model(g.graph("rigid", [value_info("image", [1, 3, 32, 32])],
                                [value_info("logits", [1, 3])], logits))
    rigid_path = _save(rigid, tmp_path, "rigid")
    capsys.readouterr()
    assert main(["maps", str(rigid_path), str(chelsea), "--size", "64x64", "--out",
                 str(tmp_path / "no")]) == 1
    err = capsys.readouterr().err
    assert "declares a 32x32 input and cannot run at 64x64: its graph is not fully " \
        "convolutional." in err and err.count("\n") == 1
