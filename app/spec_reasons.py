"""Why each part of the input spec in use was chosen: the model's proposal or the user.

The engine proposes a spec with one reason per part
(:func:`engine.input_proposal.propose_input_spec`); the user may change any part.
This module says, per part, which of the two the spec in use follows, in words
for the input panel and for manifests (``PreparedInput.spec_reason``).
"""

from __future__ import annotations

from engine.input_proposal import SpecProposal
from engine.types import InputSpec

#: The parts of a spec the input panel shows a reason for, in its order.
PARTS: tuple[str, ...] = ("preset", "size", "resize", "channels", "layout")


def part_value(spec: InputSpec, part: str) -> tuple[object, ...]:
    """The fields of ``spec`` that make up ``part``."""
    if part == "size":
        return spec.height, spec.width
    if part == "preset":
        return spec.preset, spec.channel_order, spec.scale, spec.mean, spec.std
    if part == "resize":
        return (spec.resize,)
    if part == "channels":
        return (spec.channels,)
    if part == "layout":
        return (spec.layout,)
    raise KeyError(part)


def part_text(spec: InputSpec, part: str) -> str:
    """A part's value in a few words (``320x320``, ``yolo``)."""
    if part == "size":
        return f"{spec.height}x{spec.width}"
    if part == "channels":
        return "grayscale" if spec.channels == 1 else f"{spec.channels} channels"
    return str(part_value(spec, part)[0])


def spec_reasons(spec: InputSpec, proposal: SpecProposal | None,
                 remembered: bool = False) -> dict[str, str]:
    """Part -> why the spec in use has it (only parts with something to say).

    Parameters
    ----------
    spec
        The spec in use.
    proposal
        The model's proposal (None: no model, nothing to say).
    remembered
        The spec was the one last used with this model (settings or a session).
    """
    if proposal is None:
        return {}
    given = dict(proposal.reasons)
    reasons: dict[str, str] = {}
    for part in PARTS:
        proposed = given.get(part)
        same = part_value(spec, part) == part_value(proposal.spec, part)
        if same and proposed:
            reasons[part] = proposed
        elif same and part == "resize" and spec.preset == proposal.spec.preset \
                and "preset" in given:
            reasons[part] = f"{spec.resize}, as the {spec.preset} preset does"
        elif not same:
            who = "remembered from your last use of this model" if remembered else \
                "your choice"
            model_says = proposed or part_text(proposal.spec, part)
            reasons[part] = f"{who}; the model proposes {model_says}"
    if "input" in given:
        reasons["input"] = given["input"]
    return reasons


def reason_line(reasons: dict[str, str]) -> str:
    """All reasons in one line, as a manifest records them."""
    return "; ".join(f"{part}: {text}" for part, text in reasons.items())
