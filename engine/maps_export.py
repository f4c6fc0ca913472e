"""Write a :class:`FeatureMaps` result to a folder (PNG mosaics, .npy, CSV, manifest)."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic_files import csv_text, npy_bytes, png_bytes
from engine.colormaps import apply_colormap
from engine.model_card import layer_dict, stats_dict
from engine.stats import as_images, mosaic, normalize
from engine.types import FeatureMaps

STATS_HEADER = ["layer", "channel", "min", "max", "mean", "std", "zero_fraction", "dead"]


def safe_name(index: int, name: str) -> str:
    """A file-system-safe, unique folder name for a layer."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "layer"
    return f"{index:03d}_{cleaned}"


def mosaic_rgb(data: np.ndarray, colormap: str = "viridis", mode: str = "channel") -> np.ndarray:
    """Render a (C, *spatial) map as a coloured channel mosaic (uint8 RGB)."""
    images = normalize(as_images(data), mode)  # type: ignore[arg-type]
    tile = mosaic(images)
    rgb = apply_colormap(tile, colormap)
    small = min(tile.shape)
    if small and small < 256:
        factor = max(1, min(8, 512 // max(tile.shape)))
        rgb = np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
    return rgb


def write_maps(result: FeatureMaps, folder: Path, colormap: str = "viridis") -> dict[str, Any]:
    """Write every layer's mosaic PNG and channels, ``stats.csv`` and ``manifest.json``.

    Parameters
    ----------
    result
        The extraction result.
    folder
        An empty folder (the caller makes the write atomic).

    Returns
    -------
    dict
        The manifest that was written.
    """
    from engine.atomic_files import write_bytes_atomic, write_json_atomic, write_text_atomic

    rows: list[list[object]] = []
    entries: list[dict[str, Any]] = []
    for maps in result.layers:
        layer = maps.layer
        sub = safe_name(layer.index, layer.name)
        (folder / sub).mkdir()
        files = {"mosaic": f"{sub}/mosaic.png", "channels": f"{sub}/channels.npy"}
        write_bytes_atomic(folder / files["mosaic"], png_bytes(mosaic_rgb(maps.data, colormap)))
        write_bytes_atomic(folder / files["channels"], npy_bytes(maps.data))
        if maps.raw is not None:
            files["raw"] = f"{sub}/raw.npy"
            write_bytes_atomic(folder / files["raw"], npy_bytes(maps.raw))
        s = maps.stats
        for c in range(len(s.mean)):
            rows.append([layer.name, c, f"{s.min[c]:.6g}", f"{s.max[c]:.6g}", f"{s.mean[c]:.6g}",
                         f"{s.std[c]:.6g}", f"{s.zero_fraction[c]:.4f}", int(s.dead[c])])
        entry = layer_dict(layer)
        entry.update({"files": files, "stats": stats_dict(s), "dequantized": maps.dequantized,
                      "output_tensor": layer.tensor})
        entries.append(entry)
    write_text_atomic(folder / "stats.csv", csv_text(STATS_HEADER, rows))
    manifest: dict[str, Any] = {
        "featurescope": "maps",
        "model_sha256": result.model_sha256,
        "provider": result.run.provider,
        "providers": list(result.run.providers),
        "fallback_reason": result.run.fallback_reason,
        "device": result.run.device_name,
        "optimization_level": result.run.optimization_level,
        "input": {"source": result.input.source, **result.input.input_summary(),
                  "spec": None if result.input.spec is None else asdict(result.input.spec),
                  "tensors": {n: {"shape": list(v.shape), "dtype": str(v.dtype)}
                              for n, v in result.input.feeds},
                  "warnings": list(result.input.warnings)},
        "layers": entries,
        "check": {"passed": result.check.passed, "tolerance": result.check.tolerance,
                  "max_abs_diff": dict(result.check.max_abs_diff)},
        "rewrite": {"exposed": len(result.rewrite.exposed),
                    "already_outputs": list(result.rewrite.already_outputs),
                    "skipped": [list(s) for s in result.rewrite.skipped],
                    "notes": list(result.rewrite.notes)},
        "timings_s": dict(result.timings),
        "notes": list(result.notes),
        "outputs": {n: {"shape": list(v.shape), "dtype": str(v.dtype)} for n, v in result.outputs},
    }
    write_json_atomic(folder / "manifest.json", manifest)
    return manifest
