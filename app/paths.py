"""Where the bundled resources live and which files the app recognises."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
DEMO_MODEL = RESOURCES / "models" / "efficientnet_lite0.onnx"
DEMO_IMAGE = RESOURCES / "images" / "chelsea.png"
LABELS_DIR = RESOURCES / "labels"
ICON = RESOURCES / "icons" / "featurescope.png"

MODEL_SUFFIXES = (".onnx", ".ort")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".npy", ".wav")
SESSION_SUFFIX = ".fsession"


def kind_of(path: str | Path) -> str:
    """``model``, ``image``, ``session`` or ``unknown`` from a file name."""
    suffix = Path(path).suffix.lower()
    if suffix in MODEL_SUFFIXES:
        return "model"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in (SESSION_SUFFIX, ".json"):
        return "session"
    return "unknown"
