"""The text form of attribution targets, as ``--target`` and session files write them."""

from __future__ import annotations

from typing import Any

from engine.attribution.types import Target
from engine.errors import InputError

_TARGET_FORMS = ("top1, a class number, det:K (the K-th prediction), OUTPUT:class=N, "
                 "OUTPUT:INDEX (flat or i,j,k), a region OUTPUT:C@y0,x0,y1,x1 or a symbol path "
                 "OUTPUT:seq=c0,c1,...")


def _parse_region(text: str, mode: Any) -> Target:
    """``OUTPUT:C@y0,x0,y1,x1``, ``OUTPUT@y0,x0,y1,x1`` (channel 0) or ``@y0,x0,y1,x1``."""
    head, _, box_text = text.partition("@")
    output, sep, channel_text = head.rpartition(":")
    if not sep:
        output, channel_text = head, "0"
    try:
        channel = int(channel_text)
        box = tuple(int(v) for v in box_text.split(","))
    except ValueError as exc:
        raise InputError(f"A region target looks like OUTPUT:C@y0,x0,y1,x1, not '{text}'.") \
            from exc
    if len(box) != 4 or channel < 0:
        raise InputError(f"A region target needs a channel and four box corners "
                         f"(OUTPUT:C@y0,x0,y1,x1), not '{text}'.")
    y0, x0, y1, x1 = box
    if not (0 <= y0 < y1 and 0 <= x0 < x1):
        raise InputError(f"The region box {list(box)} must have y0 < y1 and x0 < x1, "
                         "counted from 0.")
    return Target(kind="region", index=channel, box=(y0, x0, y1, x1),
                  output=output.strip() or None, score=mode)


def parse_target(text: str, score: str = "auto") -> Target:
    """Parse a ``--target``.

    Forms: ``top1``; ``CLASS``; ``OUTPUT:INDEX`` with INDEX flat or ``i,j,k``
    coordinates after the batch axis (e.g. one box's score in a detector's
    ``[1, N, 6]`` output: ``dets:5,4``); ``OUTPUT:C@y0,x0,y1,x1``, the mean of
    channel C over rows y0..y1-1 and columns x0..x1-1 of a map-like output
    ``[1, C, H, W]`` (``OUTPUT@...`` means channel 0, e.g. a text detector's
    probability map ``[1, 1, H, W]`` or a ``[1, H, W]`` map; an empty OUTPUT
    means the first output).

    Raises
    ------
    InputError
        Text that is none of these.
    """
    text = text.strip()
    mode: Any = score
    if "@" in text:
        return _parse_region(text, mode)
    if text.lower() in ("", "top1"):
        return Target(score=mode)
    if text.isdigit():
        return Target(kind="class", index=int(text), score=mode)
    output, sep, index = text.rpartition(":")
    if sep and output:
        if index.lower() == "top1":
            return Target(output=output, score=mode)
        form, equals, values = index.partition("=")
        if equals and form in ("class", "seq"):
            try:
                numbers = tuple(int(v) for v in values.split(",") if v.strip())
            except ValueError as exc:
                raise InputError(f"--target must be {_TARGET_FORMS}, not '{text}'.") from exc
            if form == "class" and len(numbers) == 1:
                return Target(kind="class", index=numbers[0], output=output, score=mode)
            if form == "seq" and numbers:
                return Target(kind="sequence", coords=numbers, output=output, score=mode)
            raise InputError(f"--target must be {_TARGET_FORMS}, not '{text}'.")
        try:
            parts = [int(p) for p in index.split(",")]
        except ValueError as exc:
            raise InputError(f"--target must be {_TARGET_FORMS}, not '{text}'.") from exc
        if len(parts) == 1:
            return Target(kind="element", index=parts[0], output=output, score=mode)
        return Target(kind="element", coords=tuple(parts), output=output, score=mode)
    raise InputError(f"--target must be {_TARGET_FORMS}, not '{text}'.")


def target_text(target: Target) -> str:
    """The ``--target`` text of ``target`` (the inverse of :func:`parse_target`)."""
    prefix = f"{target.output}:" if target.output else ""
    if target.kind == "top1":
        return f"{prefix}top1" if prefix else "top1"
    if target.kind == "class":
        return f"{prefix}class={target.index}" if prefix else str(target.index)
    if target.kind == "element":
        where = ",".join(map(str, target.coords)) if target.coords else str(target.index)
        return f"{target.output or ''}:{where}"
    if target.kind == "sequence":
        return f"{prefix}seq=" + ",".join(map(str, target.coords))
    assert target.box is not None
    return f"{prefix}{target.index}@" + ",".join(map(str, target.box))
