"""How many perturbed inputs go into one batch, decided before anything is allocated.

The batch starts from a default (or the user's choice), is halved until the
estimated peak memory of one batched pass fits the allowed share of the memory
that will hold it (host memory on CPU, the GPU's free memory on CUDA), then
doubled up to a cap while it still fits. If even one item would not fit the
job is refused with one sentence. At run time an out-of-memory error still
halves the batch (:mod:`engine.attribution.runner`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from onnx import ModelProto

from engine import budget
from engine.bounded_cache import BoundedCache
from engine.budget import (
    BatchMemory,
    estimate_batch_memory,
    human_bytes,
    largest_batch,
    memory_share,
)
from engine.providers import CUDA, cuda_memory

CPU_BATCH = 8
CUDA_BATCH = 128
CPU_CAP = 32
CUDA_CAP = 256

_ESTIMATES: BoundedCache[tuple[object, ...], BatchMemory] = BoundedCache(32)


def _estimate(key: str, proto: ModelProto, feeds: dict[str, np.ndarray],
              batch_inputs: list[str], item_bytes: int) -> BatchMemory:
    shapes = tuple(sorted((n, tuple(v.shape), str(v.dtype)) for n, v in feeds.items()))
    cache_key = (key, shapes, tuple(batch_inputs), item_bytes)
    return _ESTIMATES.get_or_create(
        cache_key, lambda: estimate_batch_memory(proto, feeds, batch_inputs, item_bytes))



def allowed_bytes(provider: str,
                  gpu_memory: Callable[[], tuple[int, int] | None] = cuda_memory
                  ) -> tuple[int, str]:
    """Bytes a batch may use on ``provider`` and where they come from.

    On CUDA: the configured share of the GPU's free memory (host memory when
    the driver cannot be asked); on CPU: the share of available host memory.
    """
    share = memory_share()
    if provider == CUDA:
        gpu = gpu_memory()
        if gpu is not None:
            return int(gpu[0] * share), f"{share:.0%} of the GPU's free memory"
    return int(budget.available_memory() * share), f"{share:.0%} of available memory"


def choose_batch_size(key: str, proto: ModelProto, feeds: dict[str, np.ndarray],
                      batch_inputs: list[str], item_bytes: int, provider: str,
                      requested: int | None, single: bool) -> tuple[int, str]:
    """The batch size to start with and a note saying why.

    Parameters
    ----------
    key
        Identifies ``proto`` (estimates are cached per key and input shapes).
    proto
        The batch-planned model.
    feeds, batch_inputs
        Its batch-1 feeds and the inputs that carry the batch.
    item_bytes
        Bytes of one perturbed image as float32.
    provider
        The provider that runs the model.
    requested
        The user's batch size (never grown, only reduced to fit); None for
        the default, which grows up to the cap (256 on CUDA, 32 on CPU).
    single
        The model runs one pass at a time.

    Raises
    ------
    ResourceError
        Even one item at a time would not fit.
    """
    memory = _estimate(key, proto, feeds, batch_inputs, item_bytes)
    allowed, where = allowed_bytes(provider)
    cuda = provider == CUDA
    start = 1 if single else requested or (CUDA_BATCH if cuda else CPU_BATCH)
    cap = start if single or requested else (CUDA_CAP if cuda else CPU_CAP)
    size = largest_batch(memory, start, cap, allowed, "Attribution on this input")
    how = "" if memory.inferred else " (rough: shapes could not be inferred)"
    per_item = memory.bytes(2) - memory.bytes(1)
    note = (f"batches of up to {size} items (about {human_bytes(per_item)} per item{how}; "
            f"{human_bytes(allowed)} allowed: {where})")
    if size < start:
        note += f"; reduced from {start} to fit"
    elif size > start:
        note += f"; grown from {start}"
    return size, note
