"""The streaming plan: how many layers to expose at once within the memory budget.

Per input, one window of pairs holds A's exposed tensors, B's exposed tensors
and B's locally computed tensors, each also inside onnxruntime's arena while
its pass runs: about :data:`COMPARE_COPIES` copies of the window's A and B
tensors. If every pair fits, every layer is exposed at once and the inputs are
compared one at a time (``batch-by-batch``); otherwise the pairs are split into
consecutive windows that each fit (``layer-windows``), every window running
over every input. Over several inputs a window's sessions are kept from one
input to the next when their arenas (:data:`KEPT_SESSION_COPIES` more copies)
fit too; otherwise each session is dropped after its run and created again.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import ModelProto

from engine.budget import available_memory, human_bytes, memory_share
from engine.compare.types import Strategy
from engine.errors import ResourceError
from engine.graph.shapes import concrete_shapes
from engine.types import LayerInfo

#: Live copies per exposed byte of a window (A, B and the local pass, arena and host copy).
COMPARE_COPIES = 3
#: More copies when the window's sessions (their arenas) are kept over several inputs.
KEPT_SESSION_COPIES = 2
_ITEMSIZE = {1: 4, 10: 2, 11: 8, 2: 1, 3: 1, 6: 4, 7: 8}


def layer_bytes(model: ModelProto, layers: list[LayerInfo], feeds: dict[str, np.ndarray]
                ) -> list[int]:
    """Estimated bytes of each layer's tensor for one input (``feeds``).

    Shapes come from shape inference with the real input shapes; where that
    fails, from channels and effective stride (as :func:`engine.budget.estimate_maps_bytes`).
    """
    types: dict[str, int] = {}
    shapes = concrete_shapes(model, {name: tuple(v.shape) for name, v in feeds.items()},
                             types=types)
    image = next(iter(feeds.values())) if feeds else np.zeros((1, 1, 1, 1))
    batch = int(image.shape[0]) if image.ndim else 1
    spatial_input = [int(d) for d in image.shape[2:]] if image.ndim > 2 else [1]
    sizes: list[int] = []
    for layer in layers:
        shape = shapes.get(layer.tensor)
        if shape is None:
            stride = layer.receptive_field.stride if layer.receptive_field else (1,)
            spatial = [max(1, math.ceil(size / max(1, s)))
                       for size, s in zip(spatial_input, stride, strict=False)]
            shape = [batch, layer.channels or 1, *spatial]
        sizes.append(math.prod(shape) * _ITEMSIZE.get(types.get(layer.tensor, 1), 4))
    return sizes


def plan_windows(pair_bytes: list[int], inputs: int, budget: int | None = None) -> Strategy:
    """Split pairs into consecutive windows whose estimate fits the budget.

    Parameters
    ----------
    pair_bytes
        Bytes of A's plus B's tensor of each pair, for one input.
    inputs
        How many inputs are compared.
    budget
        Bytes allowed (default: the configured share of available memory).

    Raises
    ------
    ResourceError
        One pair alone does not fit.
    """
    allowed = int(available_memory() * memory_share()) if budget is None else int(budget)
    need = [COMPARE_COPIES * b for b in pair_bytes]
    total = sum(need)
    if total <= allowed or not need:
        keep = inputs > 1 and total * (COMPARE_COPIES + KEPT_SESSION_COPIES) <= \
            allowed * COMPARE_COPIES
        return Strategy(name="batch-by-batch", windows=(len(need),), inputs=inputs,
                        budget_bytes=allowed, estimated_bytes=total, keep_sessions=keep,
                        reason=f"every layer of both models at once needs about "
                               f"{human_bytes(total)} per input, within the "
                               f"{human_bytes(allowed)} budget")
    biggest = max(need)
    if biggest > allowed:
        raise ResourceError(
            f"Comparing one layer pair needs about {human_bytes(biggest)}, more than the "
            f"{human_bytes(allowed)} allowed; use a smaller input or free memory.",
            f"needed={biggest} allowed={allowed}")
    windows: list[int] = []
    peaks: list[int] = []
    current = used = 0
    for size in need:
        if current and used + size > allowed:
            windows.append(current)
            peaks.append(used)
            current = used = 0
        current += 1
        used += size
    windows.append(current)
    peaks.append(used)
    keep = inputs > 1 and max(peaks) * (COMPARE_COPIES + KEPT_SESSION_COPIES) <= \
        allowed * COMPARE_COPIES
    return Strategy(name="layer-windows", windows=tuple(windows), inputs=inputs,
                    budget_bytes=allowed, estimated_bytes=max(peaks), keep_sessions=keep,
                    reason=f"every layer at once would need about {human_bytes(total)} per "
                           f"input, more than the {human_bytes(allowed)} budget, so "
                           f"{len(windows)} windows of layers are exposed one after another")
