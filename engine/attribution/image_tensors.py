"""Image tensors for perturbation: layout views, baselines, channel selection."""

from __future__ import annotations

import cv2
import numpy as np

from engine.attribution.geometry import ImageGeometry
from engine.errors import InputError


def pair(value: object, name: str) -> tuple[int, int]:
    """Parse ``8``, ``(8, 4)`` or ``"8,4"`` as a positive (h, w) pair."""
    if isinstance(value, str):
        parts = [p for p in value.replace("x", ",").split(",") if p.strip()]
        try:
            numbers = [int(p) for p in parts]
        except ValueError as exc:
            raise InputError(f"{name} must be one or two whole numbers, not '{value}'.") from exc
    elif isinstance(value, int | np.integer):
        numbers = [int(value)]
    else:
        numbers = [int(v) for v in value]  # type: ignore[attr-defined]
    if len(numbers) == 1:
        numbers = numbers * 2
    if len(numbers) != 2 or min(numbers) < 1:
        raise InputError(f"{name} must be one or two positive whole numbers, not {value!r}.")
    return numbers[0], numbers[1]


def spatial(image: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    """View a [1, ...] image tensor as (C, H, W) regardless of layout."""
    item = image[0]
    return item if geometry.layout == "NCHW" else np.transpose(item, (2, 0, 1))


def from_spatial(chw: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    """Turn (C, H, W) back into a [1, ...] tensor in the model's layout."""
    item = chw if geometry.layout == "NCHW" else np.transpose(chw, (1, 2, 0))
    return np.ascontiguousarray(item[None]).astype(np.float32)


def expand_mask(masks: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    """Per-item masks (B, H, W) shaped to broadcast over a batch in the model's layout."""
    return masks[:, None] if geometry.layout == "NCHW" else masks[..., None]


def baseline_tensor(image: np.ndarray, geometry: ImageGeometry, baseline: object,
                    window: tuple[int, int] = (16, 16)) -> tuple[np.ndarray, str]:
    """The replacement values for occluded pixels, as a [1, ...] tensor.

    ``0`` or a number: a constant; ``mean``: the image's per-channel mean;
    ``blur``: a Gaussian-blurred copy (sigma = largest window side / 4).
    """
    chw = spatial(image, geometry).astype(np.float32)
    text = str(baseline).strip().lower()
    if text == "mean":
        value = np.broadcast_to(chw.mean(axis=(1, 2), keepdims=True), chw.shape)
        return from_spatial(np.array(value), geometry), "mean"
    if text == "blur":
        sigma = max(window) / 4.0
        blurred = np.stack([cv2.GaussianBlur(c, (0, 0), sigma) for c in chw])
        return from_spatial(blurred, geometry), f"blur(sigma={sigma:g})"
    try:
        constant = float(text)
    except ValueError as exc:
        raise InputError(f"The baseline must be 0, a number, 'mean' or 'blur', not "
                         f"'{baseline}'.") from exc
    return from_spatial(np.full_like(chw, constant), geometry), f"{constant:g}"


def top_variance(maps: np.ndarray, count: int | None) -> np.ndarray:
    """Indices of the ``count`` channels with the largest spatial variance (all if None)."""
    channels = maps.shape[0]
    if not count or count >= channels:
        return np.arange(channels)
    variance = maps.reshape(channels, -1).var(axis=1)
    return np.sort(np.argsort(-variance, kind="stable")[:count])
