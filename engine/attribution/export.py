"""Write an :class:`AttributionResult` to a folder: heatmap.npy, overlay.png, manifest.json."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.atomic_files import npy_bytes, png_bytes, write_bytes_atomic, write_json_atomic
from engine.attribution.types import AttributionResult
from engine.colormaps import apply_colormap
from engine.types import PreparedInput


def display_levels(heatmap: np.ndarray) -> np.ndarray:
    """Min-max scale a raw heatmap to [0, 1] for display (a constant map becomes 0)."""
    values = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    return np.zeros_like(values) if high <= low else (values - low) / (high - low)


def overlay(heatmap: np.ndarray, display: np.ndarray | None, colormap: str = "turbo",
            alpha: float = 0.5) -> np.ndarray:
    """Blend the coloured heatmap over the input image (uint8 RGB); the map alone without one."""
    coloured = apply_colormap(display_levels(heatmap), colormap)
    if display is None:
        return coloured
    image = display if display.ndim == 3 else np.repeat(display[..., None], 3, axis=2)
    if image.shape[:2] != coloured.shape[:2]:
        image = cv2.resize(image, (coloured.shape[1], coloured.shape[0]))
    mixed = (1.0 - alpha) * image.astype(np.float64) + alpha * coloured.astype(np.float64)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def manifest(result: AttributionResult, prepared: PreparedInput, model_sha256: str
             ) -> dict[str, Any]:
    """The manifest describing how the heatmap was made."""
    return {
        "featurescope": "attribution",
        "model_sha256": model_sha256,
        "method": result.method,
        "variant": result.variant,
        "layer": result.layer,
        "parameters": {k: (list(v) if isinstance(v, tuple) else v) for k, v in result.params},
        "target": {**asdict(result.target), "score_mode": result.target.score,
                   "index": result.target_index, "score": result.target_score},
        "forward_passes": result.forward_passes,
        "perturbation_passes": result.perturbation_passes,
        "session_runs": result.session_runs,
        "path": result.path,
        "batch_mode": result.batch_mode,
        "batch_size": result.batch_size,
        "provider": result.provider,
        "exact_fp32": result.exact_fp32,
        "seconds": round(result.seconds, 4),
        "heatmap": {"file": "heatmap.npy", "shape": list(result.heatmap.shape),
                    "dtype": str(result.heatmap.dtype),
                    "min": float(np.min(result.heatmap)), "max": float(np.max(result.heatmap))},
        "class_maps": None if result.class_maps is None else {
            "file": "class_maps.npy", "classes": list(result.class_indices)},
        "stats": dict(result.stats),
        "input": {"source": prepared.source, **prepared.input_summary(),
                  "spec": None if prepared.spec is None else asdict(prepared.spec)},
        "notes": list(result.notes),
    }


def write_attribution(result: AttributionResult, prepared: PreparedInput, model_sha256: str,
                      folder: Path, colormap: str = "turbo") -> dict[str, Any]:
    """Write heatmap.npy, overlay.png, class_maps.npy (RISE) and manifest.json into ``folder``.

    Parameters
    ----------
    result
        The attribution.
    prepared
        The input it explains (its display image is the overlay's background).
    model_sha256
        Recorded in the manifest.
    folder
        An existing folder (the caller makes the whole write atomic).

    Returns
    -------
    dict
        The manifest.
    """
    write_bytes_atomic(folder / "heatmap.npy", npy_bytes(result.heatmap.astype(np.float32)))
    write_bytes_atomic(folder / "overlay.png",
                       png_bytes(overlay(result.heatmap, prepared.display, colormap)))
    if result.class_maps is not None:
        write_bytes_atomic(folder / "class_maps.npy", npy_bytes(result.class_maps))
    data = manifest(result, prepared, model_sha256)
    write_json_atomic(folder / "manifest.json", data)
    return data
