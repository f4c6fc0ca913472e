"""CTC sequence heads (text recognisers): [batch, steps, symbols] decoded greedily.

Recognised when an output is rank 3 with at least 4 steps and its symbol axis
matches a charset from metadata (PaddleOCR's ``character``: blank first, then
the charset, then a space), or holds per-step probabilities over more than 30
symbols. Greedy decoding: arg-max per step, repeats collapsed, blanks (0) dropped.
"""

from __future__ import annotations

import numpy as np

from engine.heads.types import Head, HeadContext, PredictionItem, Recogniser

MIN_STEPS = 4
MIN_SYMBOLS = 30


def recognise(ctx: HeadContext) -> Head | None:
    """A rank-3 output of per-step symbol scores matching the charset (or probabilities)."""
    for name in ctx.output_names:
        value = ctx.values.get(name)
        if value is None or value.dtype.kind != "f" or value.ndim != 3:
            continue
        steps, symbols = value.shape[1], value.shape[2]
        if steps < MIN_STEPS:
            continue
        charset = len(ctx.charset)
        if charset and symbols in (charset + 1, charset + 2):
            return Head("ctc", name, f"output '{name}' is [batch, {steps} steps, {symbols} "
                        f"symbols] = blank + the {charset}-symbol charset in metadata")
        rows = np.asarray(value[0], dtype=np.float64)
        if symbols > MIN_SYMBOLS and np.allclose(rows.sum(axis=1), 1.0, atol=1e-3):
            return Head("ctc", name, f"output '{name}' is [batch, {steps} steps, {symbols} "
                        "symbols] of per-step probabilities (no charset in metadata)")
    return None


def symbol(ctx: HeadContext, index: int) -> str:
    """The text of symbol ``index`` (0 is the blank; the one after the charset a space)."""
    if index == 0:
        return ""
    if index - 1 < len(ctx.charset):
        return ctx.charset[index - 1]
    return " " if ctx.charset and index == len(ctx.charset) + 1 else f"<{index}>"


def greedy(scores: np.ndarray) -> list[tuple[int, int, float]]:
    """(step, symbol, probability) of each kept symbol of the greedy path."""
    best = np.argmax(scores, axis=1)
    kept = []
    previous = -1
    for step, index in enumerate(best):
        if index != previous and index != 0:
            kept.append((step, int(index), float(scores[step, index])))
        previous = int(index)
    return kept


def decode(ctx: HeadContext, head: Head) -> tuple[PredictionItem, ...]:
    """The whole decoded line first, then each character with its own target."""
    scores = np.asarray(ctx.values[head.output], dtype=np.float64)[0]
    steps = scores.shape[0]
    path = np.argmax(scores, axis=1)
    kept = greedy(scores)
    text = "".join(symbol(ctx, index) for _, index, _ in kept)
    height, width = ctx.input_size
    mean = float(np.mean([p for _, _, p in kept])) if kept else 0.0
    line = PredictionItem(
        label=text or "(no text)", score=mean, text=text,
        box=ctx.box((0.0, 0.0, float(width), float(height))),
        target=f"{head.output}:seq=" + ",".join(str(int(c)) for c in path))
    items = [line]
    for step, index, prob in kept:
        x = (step + 0.5) * width / steps
        items.append(PredictionItem(
            label=symbol(ctx, index) or "?", score=prob, class_index=index,
            point=ctx.point(x, height / 2.0), target=f"{head.output}:{step},{index}"))
    return tuple(items)


RECOGNISER = Recogniser("ctc", recognise, decode)
