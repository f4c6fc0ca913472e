"""Head recognisers on synthetic models with known answers and on real vendor models."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image, ImageDraw, ImageFont

from engine.attribution.registry import run_attribution
from engine.attribution.rise import make_masks
from engine.attribution.target_text import parse_target
from engine.attribution.types import AttributionRequest
from engine.cli import main
from engine.heads import predict
from engine.input_proposal import propose_input_spec
from engine.model_io import LoadedModel, load_model
from engine.preprocess import prepare_input
from tests import _head_models as hm

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _save(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    path = folder / f"{name}.onnx"
    onnx.save_model(model, path)
    return path


def blob_image(folder: Path, size: tuple[int, int] = (64, 96)) -> Path:
    """A 64x96 (H x W) photo-sized picture whose letterboxed 32x32 view has the blob in
    the detector's region: the picture is 2x and 3x larger and letterboxed vertically."""
    h, w = size
    pixels = np.zeros((h, w, 3), np.uint8)
    # letterbox to 32x32: scale 1/3, picture 21x32 centred vertically (top pad 5 or 6)
    scale = 32 / w
    top = (32 - round(h * scale)) // 2
    y0, x0, y1, x1 = hm.REGION
    pixels[int((y0 - top) / scale):int((y1 - top) / scale), int(x0 / scale):int(x1 / scale)] = 255
    path = folder / "blob.png"
    Image.fromarray(pixels).save(path)
    return path


def text_line(folder: Path, text: str) -> Path:
    """A rendered line of dark text on white (DejaVu Sans from Debian's fonts)."""
    font = ImageFont.truetype(str(FONT), 36) if FONT.exists() else ImageFont.load_default()
    image = Image.new("RGB", (40 + 22 * len(text), 60), "white")
    ImageDraw.Draw(image).text((10, 8), text, fill="black", font=font)
    path = folder / "line.png"
    image.save(path)
    return path


def test_ultralytics_metadata_gives_the_input_spec_and_names(tmp_path: Path) -> None:
    model = load_model(_save(hm.yolov8_blob_detector(), tmp_path, "yolo"))
    proposal = propose_input_spec(model)
    assert (proposal.spec.height, proposal.spec.width) == (32, 32)
    assert (proposal.spec.preset, proposal.spec.resize) == ("yolo", "letterbox")
    assert "yolo (RGB 0..1, letterbox) from Ultralytics metadata task=detect" in proposal.reason()


def test_dense_detection_box_in_original_pixels(tmp_path: Path) -> None:
    model = load_model(_save(hm.yolov8_blob_detector(), tmp_path, "yolo"))
    proposal = propose_input_spec(model)
    prepared = prepare_input(model.info, blob_image(tmp_path), proposal.spec)
    result = predict(model, prepared, "cpu")
    assert result.head.kind == "dense-detection" and result.head.output == "output0"
    assert "21 anchors = strides 8/16/32 over 32x32, 2 classes (YOLOv8 layout)" in \
        result.head.reason
    assert len(result.items) == 1
    item = result.items[0]
    assert item.label == "blob" and item.score > 0.99 and item.stride == 8
    assert item.target == f"output0:4,{hm.ANCHOR}"
    # the region (x 16..24, y 8..16 in the 32x32 letterboxed input), mapped back by hand:
    # the 64x96 picture becomes 21x32 (rounded), placed 5 rows down
    sx, sy, top = 32 / 96, 21 / 64, (32 - 21) // 2
    y0, x0, y1, x1 = hm.REGION
    expected = (x0 / sx, (y0 - top) / sy, x1 / sx, (y1 - top) / sy)
    np.testing.assert_allclose(item.box, expected, atol=0.5)


def test_argmax_output_moves_to_the_scores_it_consumes(tmp_path: Path) -> None:
    model = load_model(_save(hm.argmax_segmenter(), tmp_path, "seg"))
    x = np.zeros((1, 3, 32, 32), np.float32)
    x[0, :, 4:12, 4:20] = 1.0
    np.save(tmp_path / "x.npy", x)
    result = predict(model, prepare_input(model.info, tmp_path / "x.npy"), "cpu")
    assert result.head.kind == "argmax" and result.head.moved_from == "labels"
    assert "made by ArgMax" in result.head.reason
    # two channels summing to one: background / foreground; the foreground region
    assert len(result.items) == 1
    region = result.items[0]
    assert region.label == "foreground" and region.score == pytest.approx(1.0)
    assert region.target == f"{result.head.output}:1@4,4,12,20"
    assert region.box == pytest.approx((4, 4, 20, 12))


def test_d_rise_finds_the_region_the_detection_depends_on(tmp_path: Path) -> None:
    model = load_model(_save(hm.yolov8_blob_detector(), tmp_path, "yolo"))
    x = np.zeros((1, 3, 32, 32), np.float32)
    y0, x0, y1, x1 = hm.REGION
    x[0, :, y0:y1, x0:x1] = 1.0
    np.save(tmp_path / "x.npy", x)
    prepared = prepare_input(model.info, tmp_path / "x.npy")
    request = AttributionRequest("d-rise", target=parse_target(f"output0:4,{hm.ANCHOR}"),
                                 params=(("masks", 400), ("grid", 4)))
    result = run_attribution(model, prepared, request, "cpu")
    heat = result.heatmap
    region = np.zeros(heat.shape, bool)
    region[y0:y1, x0:x1] = True
    assert result.perturbation_passes == 400
    # Independent reference: every proposal but the target's has a zero class vector
    # (cosine 0) and all boxes equal the target's (IoU 1), so D-RISE's similarity of a
    # masked image is the target's class score there; recompute it with onnxruntime.
    masks = make_masks(400, 4, 0.5, 32, 32, 0).masks(np.arange(400))
    session = ort.InferenceSession(str(tmp_path / "yolo.onnx"), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"image": (x * masks[:, None]).astype(np.float32)})[0][:, 4,
                                                                                      hm.ANCHOR]
    expected = np.tensordot(scores.astype(np.float64), masks, axes=1) / (400 * 0.5)
    np.testing.assert_allclose(heat, expected, rtol=1e-4, atol=1e-5)
    assert heat[region].mean() > heat[~region].mean() + 0.1
    assert region[np.unravel_index(int(np.argmax(heat)), heat.shape)]


def test_ctc_recogniser_reads_a_rendered_line(real_model: Callable[[str], Path],
                                              tmp_path: Path) -> None:
    model = load_model(real_model("ppocrv4_rec_svtr_ctc"))
    proposal = propose_input_spec(model)
    assert proposal.spec.resize == "keep_aspect" and proposal.spec.height == 48
    line = text_line(tmp_path, "Featurescope 2026")
    prepared = prepare_input(model.info, line, proposal.spec)
    result = predict(model, prepared, "cpu")
    assert result.head.kind == "ctc"
    assert result.items[0].text == "Featurescope 2026"
    assert result.items[0].target.startswith("softmax_11.tmp_0:seq=")
    chars = [item.label for item in result.items[1:]]
    assert "".join(chars) == "Featurescope 2026"  # one item per kept symbol, the space too
    xs = [item.point[0] for item in result.items[1:] if item.point is not None]
    with Image.open(line) as image:
        assert xs == sorted(xs) and 0 < xs[0] < xs[-1] < image.width


def test_sequence_target_fused_equals_numpy(real_model: Callable[[str], Path],
                                            tmp_path: Path) -> None:
    model = load_model(real_model("ppocrv4_rec_svtr_ctc"))
    spec = propose_input_spec(model).spec
    prepared = prepare_input(model.info, text_line(tmp_path, "ONNX"), spec)
    target = parse_target(predict(model, prepared, "cpu").items[0].target)
    maps = [run_attribution(model, prepared, AttributionRequest(
        "occlusion", target=target, params=(("window", (24, 24)), ("stride", (24, 24)),
                                            ("fused", fused))), "cpu") for fused in (True, False)]
    assert maps[0].path == "fused" and maps[1].path == "numpy"
    np.testing.assert_allclose(maps[0].heatmap, maps[1].heatmap, atol=1e-3)
    probs = np.asarray(predict(model, prepared, "cpu").items[0].score)
    assert maps[0].target_score < 0 and probs > 0.9  # a log-probability, close to 0


def test_predict_cli_json_contract(real_model: Callable[[str], Path],
                                   photo: Callable[[str], Path],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    model = real_model("ppocrv4_det_dbnet")
    page = photo("page")
    assert main(["predict", str(model), str(page), "--json", "--size", "640x480"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"input", "head", "predictions"}
    assert data["input"]["size"] == [640, 480] and data["input"]["preset"] == "paddle"
    assert "640x480 from --size" in data["input"]["reason"]
    assert data["head"] == {"kind": "map", "output": "sigmoid_0.tmp_0",
                            "reason": data["head"]["reason"]}
    scores = [p["score"] for p in data["predictions"]]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 5
    for item in data["predictions"]:
        assert set(item) >= {"label", "score", "target", "box"}
        parse_target(item["target"])


def test_attribute_explains_the_top_prediction_by_default(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _save(hm.yolov8_blob_detector(), tmp_path, "yolo")
    image = blob_image(tmp_path)
    assert main(["attribute", str(path), str(image), "--method", "occlusion", "--window", "8",
                 "--stride", "8", "--out", str(tmp_path / "a")]) == 0
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["target"]["kind"] == "element" and manifest["target"]["output"] == "output0"
    assert manifest["input"]["size"] == [32, 32] and manifest["input"]["preset"] == "yolo"
    assert "from Ultralytics metadata" in manifest["input"]["reason"]
    assert main(["attribute", str(path), str(image), "--method", "occlusion", "--target",
                 "det:3", "--out", str(tmp_path / "b")]) == 1
    assert "makes 1 predictions on this input (dense-detection head), so there is no " \
        "prediction 3" in capsys.readouterr().err


def test_any_4d_tensor_is_a_cam_layer(demo_model: Path, chelsea: Path) -> None:
    model: LoadedModel = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    block = "/_blocks.14/Add_output_0"  # a residual block output, not a conv output
    result = run_attribution(model, prepared, AttributionRequest("eigen-cam", layer=block),
                             "cpu")
    assert result.layer == block and result.heatmap.shape == (224, 224)
    with pytest.raises(Exception, match="needs a 4-D"):
        run_attribution(model, prepared, AttributionRequest("eigen-cam", layer="logits"), "cpu")
