"""The batch loop shared by every perturbation method.

Batches keep one constant shape (the last one is padded by repeating its last
item and the padding's results are dropped), because every new input shape
costs the CUDA provider a new execution plan. An out-of-memory error halves
the batch and retries the same items; progress is reported and the cancel
token checked between batches.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.cancellation import CancelToken, ProgressCallback
from engine.errors import ResourceError
from engine.types import Progress

BatchFn = Callable[[np.ndarray], dict[str, np.ndarray]]


def padded_indices(start: int, size: int, total: int) -> tuple[np.ndarray, int]:
    """Indices ``start .. start+size`` padded with the last real one; and the real count."""
    real = np.arange(start, min(start + size, total), dtype=np.int64)
    if len(real) < size:
        real_count = len(real)
        real = np.concatenate([real, np.full(size - len(real), real[-1], dtype=np.int64)])
        return real, real_count
    return real, size


def run_batches(total: int, batch_size: int, run_batch: BatchFn, progress: ProgressCallback,
                cancel: CancelToken, message: str = "forward passes"
                ) -> tuple[dict[str, np.ndarray], int, tuple[str, ...]]:
    """Run ``run_batch`` over ``total`` items in constant-size batches.

    Parameters
    ----------
    total
        Number of perturbed items.
    batch_size
        Items per batch (the last batch is padded to this size).
    run_batch
        Takes the item indices of one batch, returns outputs with that batch dim.
    progress, cancel
        Reported / checked before every batch.
    message
        Progress text.

    Returns
    -------
    (dict, int, tuple of str)
        Outputs concatenated over the real items, the final batch size and
        notes (out-of-memory back-offs).

    Raises
    ------
    Cancelled
        The token was cancelled.
    ResourceError
        Out of memory even at batch size 1.
    """
    size = max(1, min(batch_size, total)) if total else 1
    parts: dict[str, list[np.ndarray]] = {}
    notes: list[str] = []
    done = 0
    progress(Progress(0, total, message))
    while done < total:
        cancel.check()
        indices, real = padded_indices(done, size, total)
        try:
            outputs = run_batch(indices)
        except ResourceError:
            if size == 1:
                raise
            size = max(1, size // 2)
            notes.append(f"out of memory: batch size halved to {size}")
            continue
        for name, value in outputs.items():
            parts.setdefault(name, []).append(np.asarray(value)[:real])
        done += real
        progress(Progress(done, total, message))
    joined = {name: np.concatenate(chunks, axis=0) for name, chunks in parts.items()}
    return joined, size, tuple(notes)
