"""Memory budgets decided before allocating: estimate, compare, refuse with a message."""

from __future__ import annotations

import ctypes
import math
import os
import sys
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import ModelProto

from engine.errors import ResourceError
from engine.graph.shapes import concrete_shapes
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


def _concrete_shapes(model: ModelProto, feeds: dict[str, np.ndarray],
                     include_outputs: bool = False,
                     types: dict[str, int] | None = None) -> dict[str, list[int]]:
    """Shape inference with the graph inputs fixed to the fed shapes (weights not copied)."""
    return concrete_shapes(model, {name: tuple(value.shape) for name, value in feeds.items()},
                           include_outputs, types)


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


#: Image-sized float32 copies per perturbed item besides the network's own tensors
#: (the perturbed input, the mask, the masked product and the cast for the model).
PERTURBATION_COPIES = 4
#: Bytes per item assumed for the network when shape inference gives nothing, as a
#: multiple of the item's input bytes (a rough bound for convolutional networks).
UNKNOWN_ACTIVATION_FACTOR = 16


@dataclass(frozen=True)
class BatchMemory:
    """Peak bytes of one batched pass, as ``max_s(fixed_s + per_item_s * batch)``.

    ``fixed`` and ``per_item`` hold, for each step of the execution order, the
    bytes of the tensors alive at that step: the part that does not grow with
    the batch and the part per item. ``inferred`` says whether shape inference
    gave the network's tensors (else a rough bound from the input size).
    """

    fixed: tuple[int, ...]
    per_item: tuple[int, ...]
    inferred: bool

    def bytes(self, batch: int) -> int:
        """Estimated peak bytes of a pass over ``batch`` items."""
        return max((f + p * batch for f, p in zip(self.fixed, self.per_item, strict=True)),
                   default=0)


#: Bytes per element of the ONNX element types (others count as 4).
_ITEMSIZE: dict[int, int] = {
    onnx.TensorProto.FLOAT: 4, onnx.TensorProto.FLOAT16: 2, onnx.TensorProto.DOUBLE: 8,
    onnx.TensorProto.UINT8: 1, onnx.TensorProto.INT8: 1, onnx.TensorProto.BOOL: 1,
    onnx.TensorProto.INT32: 4, onnx.TensorProto.INT64: 8}


def _typed_shapes(model: ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, int]:
    """Bytes of every graph tensor whose shape inference gives concrete dims."""
    sizes: dict[str, int] = {}
    types: dict[str, int] = {}
    shapes = _concrete_shapes(model, feeds, include_outputs=True, types=types)
    for name, shape in shapes.items():
        itemsize = _ITEMSIZE.get(types.get(name, int(onnx.TensorProto.FLOAT)), 4)
        sizes[name] = math.prod(shape) * itemsize
    for name, value in feeds.items():
        sizes[name] = int(value.nbytes)
    return sizes


def _live_steps(model: ModelProto, sizes: dict[str, int]) -> list[int]:
    """Bytes alive at each step of a topological execution order (weights excluded)."""
    from engine.graph.suffix import topological_nodes

    graph = model.graph
    nodes = topological_nodes(graph)
    weights = {t.name for t in graph.initializer}
    last_use: dict[str, int] = {}
    for step, node in enumerate(nodes):
        for name in node.input:
            last_use[name] = step
    end = len(nodes)
    for value in graph.output:
        last_use[value.name] = end
    delta = [0] * (end + 2)
    born = {v.name: 0 for v in graph.input if v.name not in weights}
    for step, node in enumerate(nodes):
        born.update({o: step for o in node.output if o})
    for name, start in born.items():
        size = sizes.get(name, 0)
        if size:
            delta[start] += size
            delta[max(start, last_use.get(name, start)) + 1] -= size
    steps, alive = [], 0
    for change in delta[:end + 1]:
        alive += change
        steps.append(alive)
    return steps


def estimate_batch_memory(model: ModelProto, feeds: dict[str, np.ndarray],
                          batch_inputs: list[str], item_bytes: int) -> BatchMemory:
    """Estimate the peak memory of running ``model`` on batches of perturbed inputs.

    Shape inference runs at batch 1 and batch 2; a liveness walk over the
    execution order gives the bytes alive at each step, split into the part
    that grows with the batch and the part that does not. Weights are excluded
    (the session already holds them); each item adds
    :data:`PERTURBATION_COPIES` image copies for building the perturbation.

    Parameters
    ----------
    model
        The batch-planned model (not modified).
    feeds
        Its batch-1 feeds.
    batch_inputs
        Inputs that carry the batch dim.
    item_bytes
        Bytes of one perturbed image (float32).
    """
    one = _typed_shapes(model, feeds)
    two = _typed_shapes(model, {n: (np.concatenate([v, v]) if n in batch_inputs else v)
                                for n, v in feeds.items()})
    inputs = set(feeds)
    known = [n for n in one if n in two and n not in inputs]
    extra = PERTURBATION_COPIES * item_bytes
    if not known:
        per = UNKNOWN_ACTIVATION_FACTOR * sum(int(feeds[n].nbytes) for n in batch_inputs)
        return BatchMemory((0,), (per + extra,), inferred=False)
    fixed_sizes = {n: max(0, 2 * one[n] - two[n]) for n in one if n in two}
    item_sizes = {n: max(0, two[n] - one[n]) for n in one if n in two}
    fixed = _live_steps(model, fixed_sizes)
    per_item = [p + extra for p in _live_steps(model, item_sizes)]
    return BatchMemory(tuple(fixed), tuple(per_item), inferred=True)


def largest_batch(memory: BatchMemory, start: int, cap: int, allowed: int, what: str) -> int:
    """The batch size to run: ``start``, halved until it fits, then doubled while it fits.

    Parameters
    ----------
    memory
        The estimate (:func:`estimate_batch_memory`).
    start
        The first size tried (a default or the user's choice).
    cap
        Never grow beyond this (``start`` itself may exceed it).
    allowed
        Bytes the batch may use.
    what
        What is being computed, for the error message.

    Raises
    ------
    ResourceError
        Even one item at a time would not fit.
    """
    if memory.bytes(1) > allowed:
        raise ResourceError(
            f"{what} needs about {human_bytes(memory.bytes(1))} for even one input at a time, "
            f"more than the {human_bytes(allowed)} allowed; use a smaller input or free memory.",
            f"needed={memory.bytes(1)} allowed={allowed}")
    size = max(1, start)
    while size > 1 and memory.bytes(size) > allowed:
        size //= 2
    while size * 2 <= cap and memory.bytes(size * 2) <= allowed:
        size *= 2
    return size
