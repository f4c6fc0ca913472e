"""Where the bundled resources live and which files the app recognises."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.preprocess import INPUT_SUFFIXES

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
#: What ships with the application: the whole bundle when frozen, else its resources.
BUNDLE = ROOT if getattr(sys, "frozen", False) else RESOURCES
DEMO_MODEL = RESOURCES / "models" / "efficientnet_lite0.onnx"
DEMO_IMAGE = RESOURCES / "images" / "chelsea.png"
LABELS_DIR = RESOURCES / "labels"
ICON = RESOURCES / "icons" / "featurescope.png"

MODEL_SUFFIXES = (".onnx", ".ort")
SESSION_SUFFIX = ".fsession"


def kind_of(path: str | Path) -> str:
    """``model``, ``image`` (any input the engine reads), ``session`` or ``unknown``.

    Inputs are the engine's one list, :data:`engine.preprocess.INPUT_SUFFIXES`.
    """
    suffix = Path(path).suffix.lower()
    if suffix in MODEL_SUFFIXES:
        return "model"
    if suffix in INPUT_SUFFIXES:
        return "image"
    if suffix in (SESSION_SUFFIX, ".json"):
        return "session"
    return "unknown"


def inside_bundle(path: str | Path) -> bool:
    """Whether ``path`` lies inside what ships with the application (never a place to
    start a file dialog in, nor a path to show the user)."""
    try:
        return Path(path).resolve().is_relative_to(BUNDLE.resolve())
    except (OSError, ValueError):
        return False
