"""Decode image files safely into float RGB arrays."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import InputError

#: Largest image accepted, in pixels (decompression-bomb limit).
MAX_PIXELS = 100_000_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def _to_float_rgb(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to float32 HxWx3 in 0..255."""
    array: np.ndarray
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        gray = np.clip(array / top * 255.0, 0, 255).astype(np.float32)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        lo, hi = float(np.nanmin(array)), float(np.nanmax(array))
        scaled = (array - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(array)
        return np.repeat(np.nan_to_num(scaled)[:, :, None], 3, axis=2).astype(np.float32)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = image.convert("RGB")
    return np.asarray(rgb, dtype=np.float32)


def load_image(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read an image file as float32 RGB (H, W, 3) in 0..255.

    EXIF orientation is applied; grayscale, palette, RGBA, CMYK and 16-bit
    images are converted; animated images give their first frame.

    Parameters
    ----------
    path
        PNG, JPEG, BMP, TIFF, WebP or GIF file.

    Returns
    -------
    (ndarray, tuple of str)
        The pixels and warnings for the user.

    Raises
    ------
    InputError
        Missing, unreadable, corrupt, truncated or too large image.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"The image file '{p.name}' does not exist.", str(p))
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise InputError(
                        f"The image is {width}x{height} pixels, larger than the "
                        f"{MAX_PIXELS / 1e6:g} megapixel limit.", str(p))
                if width < 1 or height < 1:
                    raise InputError("The image has no pixels.", str(p))
                if getattr(image, "n_frames", 1) > 1:
                    notes.append("the image has several frames; the first is used")
                    image.seek(0)
                image.load()
                oriented = ImageOps.exif_transpose(image) or image
                pixels = _to_float_rgb(oriented)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"The image is larger than the {MAX_PIXELS / 1e6:g} megapixel limit.",
                         str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"'{p.name}' is not an image Featurescope can read.", str(exc)) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"The image '{p.name}' is damaged or truncated.", str(exc)) from exc
    if min(pixels.shape[:2]) < 2:
        notes.append(f"the image is only {pixels.shape[1]}x{pixels.shape[0]} pixels")
    return np.ascontiguousarray(pixels), tuple(notes)
