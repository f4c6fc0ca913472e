"""Memory budgets decided before allocating: estimate, compare, refuse with a message."""

from __future__ import annotations

import ctypes
import math
import os
import sys

import numpy as np
import onnx
from onnx import ModelProto

from engine.errors import ResourceError
from engine.types import LayerInfo

#: Share of the available memory one operation may use (``FEATURESCOPE_MEMORY_SHARE``).
DEFAULT_SHARE = 0.5
#: Copies of each exposed tensor alive at once: onnxruntime's output, the float32 map, stats.
COPIES = 3


def memory_share() -> float:
    """The configured share of available memory (0 < share <= 1)."""
    try:
        share = float(os.environ.get("FEATURESCOPE_MEMORY_SHARE", DEFAULT_SHARE))
    except ValueError:
        return DEFAULT_SHARE
    return min(1.0, max(0.01, share))


def available_memory() -> int:
    """Bytes of host memory available to a new allocation (best effort per platform)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if sys.platform == "win32":
        class _Status(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong),
                        ("total", ctypes.c_ulonglong), ("avail", ctypes.c_ulonglong),
                        ("page_total", ctypes.c_ulonglong), ("page_avail", ctypes.c_ulonglong),
                        ("virtual_total", ctypes.c_ulonglong),
                        ("virtual_avail", ctypes.c_ulonglong), ("extended", ctypes.c_ulonglong)]
        status = _Status()
        status.length = ctypes.sizeof(_Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return int(status.avail)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)
    except (ValueError, OSError, AttributeError):
        return 4 * 1024**3


def _concrete_shapes(model: ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, list[int]]:
    """Shape inference with the graph inputs fixed to the fed shapes."""
    copy = ModelProto()
    copy.CopyFrom(model)
    del copy.graph.value_info[:]
    for value in copy.graph.input:
        if value.name in feeds:
            shape = value.type.tensor_type.shape
            del shape.dim[:]
            for d in feeds[value.name].shape:
                shape.dim.add().dim_value = int(d)
    try:
        inferred = onnx.shape_inference.infer_shapes(copy, check_type=False, data_prop=True)
    except Exception:  # noqa: BLE001 - inference is best effort on vendor models
        return {}
    shapes: dict[str, list[int]] = {}
    for value in inferred.graph.value_info:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
            shapes[value.name] = [int(d.dim_value) for d in dims]
    return shapes


def estimate_maps_bytes(model: ModelProto, layers: list[LayerInfo],
                        feeds: dict[str, np.ndarray]) -> int:
    """Estimate the bytes that extracting ``layers`` on ``feeds`` will hold at once.

    Parameters
    ----------
    model
        The model (not modified).
    layers
        The layers to expose.
    feeds
        The input tensors (their shapes fix symbolic dims).

    Returns
    -------
    int
        Bytes for all exposed activations times :data:`COPIES`. Layers whose
        shape cannot be inferred are estimated from channels and effective stride.
    """
    shapes = _concrete_shapes(model, feeds)
    image = next(iter(feeds.values())) if feeds else np.zeros((1, 1, 1, 1))
    batch = int(image.shape[0]) if image.ndim else 1
    spatial_input = [int(d) for d in image.shape[2:]] if image.ndim > 2 else [1]
    total = 0
    for layer in layers:
        shape = shapes.get(layer.tensor)
        if shape is None:
            channels = layer.channels or 1
            stride = layer.receptive_field.stride if layer.receptive_field else (1,)
            spatial = [max(1, math.ceil(size / max(1, s)))
                       for size, s in zip(spatial_input, stride, strict=False)]
            shape = [batch, channels, *spatial]
        total += math.prod(shape) * 4
    return total * COPIES


def human_bytes(count: int) -> str:
    """Bytes as MB below a gigabyte, else GB (decimal units)."""
    return f"{count / 1e6:.0f} MB" if count < 1e9 else f"{count / 1e9:.1f} GB"


def check_budget(needed: int, what: str, share: float | None = None,
                 available: int | None = None) -> None:
    """Refuse work that would need more than the allowed share of memory.

    Raises
    ------
    ResourceError
        With the estimate, the limit and what to change.
    """
    share = memory_share() if share is None else share
    free = available_memory() if available is None else available
    allowed = int(free * share)
    if needed > allowed:
        raise ResourceError(
            f"{what} needs about {human_bytes(needed)}, more than the {human_bytes(allowed)} "
            f"allowed ({share:.0%} of available memory); choose fewer layers or a smaller input.",
            f"needed={needed} available={free} share={share}")
