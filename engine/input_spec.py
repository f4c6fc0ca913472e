"""Derive an :class:`InputSpec` from a model and apply presets."""

from __future__ import annotations

import json
from dataclasses import fields, replace

from engine.errors import InputError
from engine.types import RESIZE_MODES, InputSpec, ModelInfo, TensorInfo

#: Named preprocessing conventions. Values override :class:`InputSpec` fields.
PRESETS: dict[str, dict[str, object]] = {
    "imagenet": {"resize": "center_crop", "channel_order": "RGB", "scale": "0..1",
                 "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
    "caffe": {"resize": "stretch", "channel_order": "BGR", "scale": "0..255",
              "mean": (103.939, 116.779, 123.68), "std": (1.0, 1.0, 1.0)},
    "tf": {"resize": "stretch", "channel_order": "RGB", "scale": "-1..1",
           "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)},
    "yolo": {"resize": "letterbox", "channel_order": "RGB", "scale": "0..1",
             "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)},
    "paddle": {"resize": "stretch", "channel_order": "BGR", "scale": "0..1",
               "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)},
    "mtcnn": {"resize": "stretch", "channel_order": "RGB", "scale": "0..255",
              "mean": (127.5, 127.5, 127.5), "std": (128.0, 128.0, 128.0)},
    "raw": {"resize": "stretch", "channel_order": "RGB", "scale": "0..255",
            "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)},
}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "imagenet": "torchvision ImageNet: RGB, 0..1, ImageNet mean/std, centre crop",
    "caffe": "Caffe: BGR, 0..255, BGR mean subtracted",
    "tf": "TF/Keras: RGB scaled to -1..1",
    "yolo": "YOLO: RGB 0..1, letterbox",
    "paddle": "PaddleOCR: BGR, 0..1, mean 0.5, std 0.5",
    "mtcnn": "MTCNN: RGB, (x - 127.5) / 128",
    "raw": "raw pixels 0..255, no normalisation",
}

METADATA_KEY = "featurescope.input_spec"
DEFAULT_SIZE = 224


def image_input(info: ModelInfo) -> TensorInfo | None:
    """Return the model's first input that looks like an image (rank 4), if any."""
    for tensor in info.inputs:
        if len(tensor.shape) == 4:
            return tensor
    return None


def detect_layout(shape: tuple[object, ...]) -> str:
    """Guess NCHW or NHWC from a rank-4 shape (channel dims of 1, 3 or 4)."""
    if len(shape) == 4:
        c_first, c_last = shape[1], shape[3]
        if c_last in (1, 3, 4) and c_first not in (1, 3, 4):
            return "NHWC"
    return "NCHW"


def apply_preset(spec: InputSpec, preset: str) -> InputSpec:
    """Return ``spec`` with the normalisation of ``preset``.

    Raises
    ------
    InputError
        Unknown preset name.
    """
    if preset not in PRESETS:
        raise InputError(f"Unknown preset '{preset}'; choose one of {', '.join(PRESETS)}.")
    return replace(spec, preset=preset, **PRESETS[preset])  # type: ignore[arg-type]


def _from_metadata(spec: InputSpec, text: str) -> InputSpec:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return spec
    if not isinstance(data, dict):
        return spec
    if isinstance(data.get("preset"), str) and data["preset"] in PRESETS:
        spec = apply_preset(spec, data["preset"])
    allowed = {f.name for f in fields(InputSpec)} - {"layout", "dtype", "channels"}
    updates: dict[str, object] = {}
    for key, value in data.items():
        if key == "size" and isinstance(value, list) and len(value) == 2:
            updates["height"], updates["width"] = int(value[0]), int(value[1])
        elif key in ("mean", "std") and isinstance(value, list) and len(value) == 3:
            updates[key] = tuple(float(v) for v in value)
        elif key in allowed and isinstance(value, str | int | float):
            updates[key] = value
    try:
        candidate = replace(spec, **updates)  # type: ignore[arg-type]
        validate_spec(candidate)
    except (TypeError, ValueError, InputError):
        return spec
    return candidate


def spec_from_model(info: ModelInfo) -> InputSpec:
    """Derive the default input spec of a model.

    Layout, size and dtype come from the first rank-4 input; normalisation from
    the model's ``featurescope.input_spec`` metadata when present, else the
    ImageNet preset for float inputs and raw pixels for integer inputs.

    Parameters
    ----------
    info
        The model card.

    Returns
    -------
    InputSpec
    """
    tensor = image_input(info)
    spec = InputSpec()
    if tensor is None:
        return spec
    layout = detect_layout(tensor.shape)
    if layout == "NCHW":
        c, h, w = tensor.shape[1], tensor.shape[2], tensor.shape[3]
    else:
        h, w, c = tensor.shape[1], tensor.shape[2], tensor.shape[3]
    height = h if isinstance(h, int) else DEFAULT_SIZE
    width = w if isinstance(w, int) else DEFAULT_SIZE
    channels = c if isinstance(c, int) and c in (1, 3, 4) else 3
    known = ("float32", "float16", "uint8", "float64")
    dtype = tensor.dtype if tensor.dtype in known else "float32"
    spec = replace(spec, layout=layout, height=height, width=width,  # type: ignore[arg-type]
                   dtype=dtype, channels=channels)
    spec = apply_preset(spec, "raw" if dtype == "uint8" else "imagenet")
    meta = info.metadata_value(METADATA_KEY)
    return _from_metadata(spec, meta) if meta else spec


def validate_spec(spec: InputSpec) -> InputSpec:
    """Check a spec's values; return it unchanged.

    Raises
    ------
    InputError
        A value out of its allowed set or range.
    """
    if spec.layout not in ("NCHW", "NHWC"):
        raise InputError(f"Layout must be NCHW or NHWC, not {spec.layout!r}.")
    if spec.resize not in RESIZE_MODES:
        raise InputError(f"Resize mode must be {', '.join(RESIZE_MODES)}, not {spec.resize!r}.")
    if spec.channel_order not in ("RGB", "BGR"):
        raise InputError(f"Channel order must be RGB or BGR, not {spec.channel_order!r}.")
    if spec.scale not in ("0..1", "0..255", "-1..1"):
        raise InputError(f"Scale must be 0..1, 0..255 or -1..1, not {spec.scale!r}.")
    if not (1 <= spec.height <= 8192 and 1 <= spec.width <= 8192):
        raise InputError(f"Input size {spec.height}x{spec.width} is outside 1..8192 pixels.")
    if any(s == 0 for s in spec.std):
        raise InputError("A standard deviation of 0 would divide by zero.")
    if spec.dtype not in ("float32", "float16", "float64", "uint8"):
        raise InputError(f"Input type {spec.dtype} is not an image type.")
    return spec
