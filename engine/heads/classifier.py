"""Classifiers: a [batch, classes] output; top-5 with labels from metadata or a labels file."""

from __future__ import annotations

import numpy as np

from engine.heads.types import Head, HeadContext, PredictionItem, Recogniser

TOP = 5
MAX_CLASSES = 100_000


def _probabilities(row: np.ndarray) -> tuple[np.ndarray, bool]:
    """The row as probabilities (itself when it already sums to 1, else its softmax)."""
    if np.all(row >= -1e-6) and abs(float(row.sum()) - 1.0) < 1e-3:
        return row, True
    shifted = np.exp(row - row.max())
    return shifted / shifted.sum(), False


def recognise(ctx: HeadContext) -> Head | None:
    """A float output shaped [batch, classes] (2 to 100,000), probabilities preferred.

    Among several (MTCNN's O-Net outputs box offsets, landmarks and a softmax),
    the first whose rows already sum to one is the class output.
    """
    candidates = []
    for name in ctx.output_names:
        value = ctx.values.get(name)
        if value is None or value.dtype.kind != "f" or value.ndim != 2:
            continue
        if 2 <= value.shape[1] <= MAX_CLASSES:
            _, is_prob = _probabilities(np.asarray(value[0], dtype=np.float64))
            candidates.append((not is_prob, name, int(value.shape[1])))
    if not candidates:
        return None
    _, name, classes = min(candidates, key=lambda c: c[0])
    named = " with labels" if ctx.labels else ""
    return Head("classifier", name, f"output '{name}' is [batch, {classes}] class scores{named}")


def decode(ctx: HeadContext, head: Head) -> tuple[PredictionItem, ...]:
    """Top-5 classes, probabilities (softmax unless the output already sums to 1)."""
    row = np.nan_to_num(np.asarray(ctx.values[head.output], dtype=np.float64)[0])
    probs, _ = _probabilities(row)
    first = head.output == ctx.output_names[0]
    order = np.argsort(-probs, kind="stable")[:TOP]
    return tuple(PredictionItem(
        label=ctx.label(int(i)), score=float(probs[i]), class_index=int(i),
        target=str(int(i)) if first else f"{head.output}:class={int(i)}") for i in order)


RECOGNISER = Recogniser("classifier", recognise, decode)
