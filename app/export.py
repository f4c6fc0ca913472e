"""Exports (PNG of a view or an overlay, .npy arrays, CSV statistics) and session files.

Every file is written atomically through :mod:`engine.atomic_files`. Every ``.npy``
gets a JSON sidecar beside it (``name.json``) saying what it holds: the model's
sha256, the layer and channel or the attribution method, target and parameters,
the input and its spec. File names are suggested from the same facts.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtWidgets import QWidget

from app.settings import spec_from_dict, spec_to_dict
from app.state import AppState
from engine.atomic_files import (
    csv_text,
    npy_bytes,
    png_bytes,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from engine.attribution.export import manifest, overlay
from engine.attribution.types import AttributionResult
from engine.errors import InputError, OutputError
from engine.maps_export import STATS_HEADER
from engine.stats import as_images
from engine.types import InputSpec

SESSION_FORMAT = "featurescope-session"
SESSION_VERSION = 1


def widget_png(widget: QWidget) -> bytes:
    """Render a widget (and its children) to PNG bytes."""
    pixmap = widget.grab()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not pixmap.save(buffer, "PNG"):
        raise OutputError("The view could not be encoded as PNG.")
    buffer.close()
    return bytes(data.data())


def export_view_png(widget: QWidget, path: Path) -> None:
    """Save a PNG of a widget as shown."""
    write_bytes_atomic(path, widget_png(widget))


def safe_part(text: str, limit: int = 48) -> str:
    """A piece of a file name: ``_blocks.15_project_conv`` from ``/_blocks.15/_project_conv``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return cleaned[:limit] or "x"


def suggest_name(state: AppState, what: str, result: AttributionResult | None = None) -> str:
    """A file name saying what an export holds (model, layer, channel or method).

    ``what``: ``window``, ``mosaic``, ``channel``, ``layer``, ``heatmap``, ``overlay``,
    ``stats`` or ``session``.
    """
    parts = [Path(state.model.info.path).stem if state.model is not None else "featurescope"]
    layer = state.layer_name.strip("/").removesuffix("/Conv") if state.layer_name else ""
    if what in ("heatmap", "overlay") and result is not None:
        parts.append(result.method)
        if result.layer:
            parts.append(result.layer.strip("/").removesuffix("/Conv"))
    elif what in ("mosaic", "channel", "layer") and layer:
        parts.append(layer)
        if what == "channel" and state.channel is not None:
            parts.append(f"ch{state.channel}")
    elif state.image_path is not None:
        parts.append(state.image_path.stem)
    suffix = {"window": "png", "mosaic": "png", "overlay": "png", "stats": "csv",
              "session": "fsession"}.get(what, "npy")
    tail = {"mosaic": "_mosaic", "overlay": "_overlay", "stats": "_stats"}.get(what, "")
    return "_".join(safe_part(p) for p in parts) + f"{tail}.{suffix}"


def sidecar_path(path: Path) -> Path:
    """The JSON sidecar of an exported array: ``heat.npy`` -> ``heat.json``."""
    return Path(path).with_suffix(".json")


def input_facts(state: AppState) -> dict[str, Any]:
    """The model and input an export comes from."""
    prepared = state.prepared
    return {
        "model": str(state.model.info.path) if state.model is not None else None,
        "model_sha256": state.model.sha256 if state.model is not None else None,
        "input": {"source": prepared.source if prepared is not None else
                  (str(state.image_path) if state.image_path else None),
                  **(prepared.input_summary() if prepared is not None else {}),
                  "spec": asdict(state.spec) if state.spec is not None else None},
    }


def export_channel_npy(state: AppState, path: Path, whole_layer: bool = False) -> None:
    """Save the selected channel (or the whole layer) as float32 ``.npy``, with a sidecar."""
    maps = state.current_maps()
    if maps is None:
        raise OutputError("There are no feature maps to export yet.")
    whole = whole_layer or state.channel is None
    array = maps.data if whole else as_images(maps.data)[state.channel]
    write_bytes_atomic(path, npy_bytes(array))
    write_json_atomic(sidecar_path(path), {
        "featurescope": "layer" if whole else "channel", "file": Path(path).name,
        **input_facts(state), "layer": maps.layer.name, "tensor": maps.layer.tensor,
        "channel": None if whole else state.channel, "shape": list(array.shape),
        "dtype": str(array.dtype),
        "values": "activations in real units (after the activation that follows the conv)"
        if maps.layer.activation_op else "activations in real units"})


def export_heatmap_npy(result: AttributionResult | None, path: Path,
                       state: AppState | None = None) -> None:
    """Save an attribution heatmap (raw values) as ``.npy``, with the engine's manifest
    (method, target, parameters, passes, batching, input, spec) as its sidecar."""
    if result is None:
        raise OutputError("There is no attribution heatmap to export yet.")
    write_bytes_atomic(path, npy_bytes(result.heatmap))
    prepared = state.prepared if state is not None else None
    if prepared is not None and state is not None and state.model is not None:
        data = manifest(result, prepared, state.model.sha256)
        data.update(input_facts(state))
    else:
        data = {"method": result.method, "layer": result.layer,
                "parameters": {k: (list(v) if isinstance(v, tuple) else v)
                               for k, v in result.params}}
    data["heatmap"] = {**data.get("heatmap", {}), "file": Path(path).name,
                       "shape": list(result.heatmap.shape), "dtype": str(result.heatmap.dtype)}
    data["featurescope"] = "attribution"
    write_json_atomic(sidecar_path(path), data)


def export_overlay_png(result: AttributionResult | None, state: AppState, path: Path,
                       colormap: str, opacity: float) -> None:
    """Save the heatmap over the input as shown (colormap, opacity) as a PNG at input size."""
    if result is None:
        raise OutputError("There is no attribution heatmap to export yet.")
    display = state.prepared.display if state.prepared is not None else None
    write_bytes_atomic(path, png_bytes(overlay(result.heatmap, display, colormap, opacity)))


def stats_rows(state: AppState, all_layers: bool = True) -> list[list[object]]:
    """Per-channel statistics rows (the engine's STATS_HEADER columns)."""
    if state.maps is None:
        raise OutputError("There are no statistics to export yet.")
    chosen = state.maps.layers if all_layers else [m for m in state.maps.layers
                                                   if m.layer.name == state.layer_name]
    rows: list[list[object]] = []
    for maps in chosen:
        s = maps.stats
        for c in range(len(s.mean)):
            rows.append([maps.layer.name, c, float(s.min[c]), float(s.max[c]), float(s.mean[c]),
                         float(s.std[c]), float(s.zero_fraction[c]), bool(s.dead[c])])
    return rows


def export_stats_csv(state: AppState, path: Path, all_layers: bool = True) -> None:
    """Save per-channel statistics as CSV."""
    write_text_atomic(path, csv_text(list(STATS_HEADER), stats_rows(state, all_layers)))


@dataclass(frozen=True)
class SessionData:
    """What a session file reopens."""

    model: Path
    input: Path | None
    spec: InputSpec | None
    layer: str | None
    channel: int | None
    display: dict[str, Any]
    attribution: dict[str, Any]


def session_dict(state: AppState) -> dict[str, Any]:
    """The current session as JSON-ready data (everything comes from the state)."""
    if state.model is None:
        raise OutputError("Open a model before saving a session.")
    choice = state.attribution_choice
    return {
        "format": SESSION_FORMAT, "version": SESSION_VERSION,
        "model": str(state.model.info.path), "model_sha256": state.model.sha256,
        "input": str(state.image_path) if state.image_path else None,
        "spec": spec_to_dict(state.spec) if state.spec else None,
        "layer": state.layer_name, "channel": state.channel,
        "display": {"colormap": state.colormap, "normalization": state.normalization,
                    "sort": state.sort_key, "opacity": state.opacity,
                    "heatmap_opacity": state.heatmap_opacity},
        "attribution": choice.as_dict() if choice is not None else {},
    }


def save_session(state: AppState, path: Path) -> None:
    """Write a session file atomically."""
    write_json_atomic(path, session_dict(state))


def _resolve(value: object, folder: Path) -> Path | None:
    if not isinstance(value, str) or not value:
        return None
    p = Path(value)
    if p.is_absolute() and p.exists():
        return p
    beside = folder / p.name
    return beside if beside.exists() else p


def load_session(path: Path) -> SessionData:
    """Read a session file (paths missing at their saved place are looked up beside it).

    Raises
    ------
    InputError
        Not a readable Featurescope session.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"'{Path(path).name}' is not a readable session file.", str(exc)) \
            from exc
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise InputError(f"'{Path(path).name}' is not a Featurescope session file.")
    folder = Path(path).resolve().parent
    model = _resolve(data.get("model"), folder)
    if model is None:
        raise InputError("The session file names no model.")
    channel = data.get("channel")
    display = data.get("display") if isinstance(data.get("display"), dict) else {}
    attribution = data.get("attribution") if isinstance(data.get("attribution"), dict) else {}
    return SessionData(model=model, input=_resolve(data.get("input"), folder),
                       spec=spec_from_dict(data.get("spec")),
                       layer=data.get("layer") if isinstance(data.get("layer"), str) else None,
                       channel=channel if isinstance(channel, int) else None,
                       display=display, attribution=attribution)


def heatmap_stack(results: list[AttributionResult]) -> np.ndarray:
    """All compared heatmaps as one (N, H, W) float32 array (same input size)."""
    if not results:
        raise OutputError("There are no attribution results to export.")
    return np.stack([np.asarray(r.heatmap, dtype=np.float32) for r in results])
