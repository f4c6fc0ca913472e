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
LABELS_KEY = "featurescope.labels"


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


def find_labels(model_path: Path, name: str | None) -> Path | None:
    """Resolve a labels file named by model metadata: beside the model, then bundled."""
    if not name:
        return None
    base = Path(name).name  # metadata is untrusted: only a file name, never a path
    for folder in (model_path.parent, model_path.parent / "labels", LABELS_DIR):
        candidate = folder / base
        if candidate.is_file():
            return candidate
    return None


def read_labels(path: Path) -> tuple[str, ...]:
    """One label per line (blank lines kept as empty labels, trailing ones dropped)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return tuple(line.strip() for line in lines)
