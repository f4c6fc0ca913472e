"""Resolve a :class:`Target` against a model's outputs: a scalar score per batch item.

The same score is available two ways: :meth:`ResolvedTarget.score` computes it
in numpy from the model's outputs, and :func:`append_score_nodes` appends the
equivalent ONNX nodes (Cast, Softmax, Flatten, Gather, Slice, ReduceMean) after
the model's output so a fused graph returns only the scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from onnx import TensorProto

from engine.attribution.types import ScoreMode, Target
from engine.errors import InputError
from engine.graph.nodes import NodeBuilder

ResolvedKind = Literal["class", "element", "region", "sequence"]
SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ResolvedTarget:
    """A target bound to one output: which value, and whether softmax applies first.

    ``index`` is the class index (``class``), the flat element index after the
    batch axis (``element``) or the channel (``region``).
    """

    output: str
    kind: ResolvedKind
    index: int
    softmax: bool
    box: tuple[int, int, int, int] | None
    output_shape: tuple[int, ...]
    description: str
    path: tuple[int, ...] = ()

    def score(self, value: np.ndarray) -> np.ndarray:
        """Return the score of every batch item of ``value`` (this output) as float64."""
        out = np.asarray(value, dtype=np.float64)
        if self.kind == "class":
            flat = out.reshape(out.shape[0], -1)
            if self.softmax:
                flat = softmax(flat)
            return flat[:, self.index]
        if self.kind == "element":
            return out.reshape(out.shape[0], -1)[:, self.index]
        if self.kind == "sequence":
            probs = softmax(out) if self.softmax else out
            steps = np.arange(len(self.path))
            picked = probs[:, steps, np.asarray(self.path)]
            return np.log(np.clip(picked, 1e-30, None)).sum(axis=1)
        assert self.box is not None
        y0, x0, y1, x1 = self.box
        region = out[:, self.index, y0:y1, x0:x1] if out.ndim == 4 else out[:, y0:y1, x0:x1]
        return region.reshape(out.shape[0], -1).mean(axis=1)

    def class_scores(self, value: np.ndarray) -> np.ndarray:
        """All class scores (batch, classes) with this target's softmax choice."""
        flat = np.asarray(value, dtype=np.float64).reshape(np.shape(value)[0], -1)
        return softmax(flat) if self.softmax else flat


def softmax(x: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    result: np.ndarray = e / np.sum(e, axis=-1, keepdims=True)
    return result


def sums_to_one(value: np.ndarray) -> bool:
    """Whether the rows (last axis) of ``value`` already look like probabilities."""
    flat = np.asarray(value, dtype=np.float64).reshape(np.shape(value)[0], -1)
    return bool(np.all(flat >= -1e-6) and np.all(np.abs(flat.sum(axis=1) - 1.0)
                                                 < SUM_TOLERANCE))


def _use_softmax(mode: ScoreMode, value: np.ndarray) -> bool:
    if mode == "logit":
        return False
    classes = int(np.prod(value.shape[1:]))
    return classes > 1 and not sums_to_one(value)


def resolve_target(target: Target, outputs: dict[str, np.ndarray],
                   output_names: tuple[str, ...], default_mode: ScoreMode = "probability"
                   ) -> ResolvedTarget:
    """Bind a target to the model's outputs from one batch-1 run.

    Parameters
    ----------
    target
        What to explain. ``top1`` on a ``[batch, classes]`` output is that
        output's top class; on any other output it is its largest element.
    outputs
        The model's outputs on the unperturbed input.
    output_names
        The model's output names in order (the first is the default).
    default_mode
        What ``score="auto"`` means for class targets: ``probability``
        (softmax unless the output already sums to 1) or ``logit``. Element
        and region targets always use the raw value.

    Returns
    -------
    ResolvedTarget

    Raises
    ------
    InputError
        Unknown output, index out of range or a target kind that does not fit
        the output's shape.
    """
    name = target.output or output_names[0]
    if name not in outputs:
        raise InputError(f"The model has no output named '{name}'; its outputs are "
                         f"{', '.join(output_names)}.")
    value = np.asarray(outputs[name])
    if value.ndim < 1:
        raise InputError(f"Output '{name}' is a scalar; it has no batch axis to explain.")
    shape = tuple(int(d) for d in value.shape)
    item = value[:1].astype(np.float64)
    size = int(np.prod(shape[1:]))
    mode = default_mode if target.score == "auto" else target.score
    where = f" of {name}"
    if target.kind in ("top1", "class"):
        if target.kind == "top1" and value.ndim != 2:
            index = int(np.argmax(item.reshape(-1)))
            coords = tuple(int(c) for c in np.unravel_index(index, shape[1:]))
            return ResolvedTarget(name, "element", index, False, None, shape,
                                  f"largest element {list(coords)}{where}")
        if value.ndim != 2:
            raise InputError(f"Output '{name}' has shape {list(shape)}, not [batch, classes]; "
                             "choose an element with OUTPUT:INDEX instead of a class.")
        index = int(np.argmax(item[0])) if target.kind == "top1" else target.index
        if not 0 <= index < shape[1]:
            raise InputError(f"Class {index} is out of range: output '{name}' has "
                             f"{shape[1]} classes.")
        use = _use_softmax(mode, item)
        kind_text = "probability" if use or (sums_to_one(item) and shape[1] > 1) else "value"
        return ResolvedTarget(name, "class", index, use, None, shape,
                              f"class {index} {kind_text}{where}")
    if target.kind == "element":
        if target.coords:
            if len(target.coords) != len(shape) - 1 or any(
                    not 0 <= c < d for c, d in zip(target.coords, shape[1:], strict=True)):
                raise InputError(f"Element {list(target.coords)} is outside output '{name}' "
                                 f"of shape {list(shape)}.")
            index = int(np.ravel_multi_index(target.coords, shape[1:]))
        else:
            index = target.index
        if not 0 <= index < size:
            raise InputError(f"Element {index} is outside output '{name}' "
                             f"({size} elements per item).")
        return ResolvedTarget(name, "element", index, False, None, shape,
                              f"element {target.coords or index}{where}")
    if target.kind == "sequence":
        if value.ndim != 3 or len(target.coords) != shape[1] or any(
                not 0 <= c < shape[2] for c in target.coords):
            raise InputError(f"A symbol path of {len(target.coords)} steps does not fit output "
                             f"'{name}' of shape {list(shape)} ([batch, steps, symbols]).")
        steps_sum = item[0].sum(axis=1)
        probabilities = bool(np.all(item >= -1e-6) and np.allclose(steps_sum, 1.0, atol=1e-3))
        return ResolvedTarget(name, "sequence", 0, not probabilities, None, shape,
                              f"log-probability of the decoded symbol path{where}",
                              path=tuple(int(c) for c in target.coords))
    if target.kind == "region":
        if value.ndim not in (3, 4) or target.box is None:
            raise InputError(f"A region target needs a box and a map-like output; '{name}' "
                             f"has shape {list(shape)}.")
        y0, x0, y1, x1 = target.box
        h, w = shape[-2], shape[-1]
        channels = shape[1] if value.ndim == 4 else 1
        if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w and 0 <= target.index < channels):
            raise InputError(f"Region {target.box} of channel {target.index} is outside "
                             f"output '{name}' of shape {list(shape)}.")
        return ResolvedTarget(name, "region", target.index, False, target.box, shape,
                              f"mean of channel {target.index} over {target.box}{where}")
    raise InputError(f"Unknown target kind '{target.kind}'.")


def append_score_nodes(builder: NodeBuilder, output: str, elem_type: int,
                       target: ResolvedTarget, all_classes: bool = False) -> tuple[str, str | None]:
    """Append nodes that compute the target score [batch] from ``output``.

    Parameters
    ----------
    builder
        Collects the new nodes.
    output
        The model output tensor the target refers to.
    elem_type
        Its ONNX element type (non-float outputs are cast to float first).
    target
        The resolved target.
    all_classes
        Also return the per-class scores [batch, classes] (for RISE class maps).

    Returns
    -------
    (str, str or None)
        The score tensor name and, if asked, the class-score tensor name.
    """
    x = output if elem_type == TensorProto.FLOAT else builder.cast(output, TensorProto.FLOAT)
    classes: str | None = None
    if target.kind == "class":
        rank = len(target.output_shape)
        if target.softmax:
            x = builder.op("Softmax", [x], axis=rank - 1)
        if all_classes:
            classes = builder.op("Flatten", [x], axis=1)
        score = builder.op("Gather", [x, builder.const(np.array(target.index, np.int64))],
                           axis=1)
        return score, classes
    if target.kind == "element":
        flat = builder.op("Flatten", [x], axis=1)
        if all_classes:
            classes = flat
        score = builder.op("Gather", [flat, builder.const(np.array(target.index, np.int64))],
                           axis=1)
        return score, classes
    if target.kind == "sequence":
        if target.softmax:
            x = builder.op("Softmax", [x], axis=2)
        floor = builder.const(np.array(1e-30, np.float32))
        logs = builder.op("Log", [builder.op("Max", [x, floor])])
        mask = np.zeros((1, *target.output_shape[1:]), np.float32)
        mask[0, np.arange(len(target.path)), np.asarray(target.path)] = 1.0
        picked = builder.op("Mul", [logs, builder.const(mask)])
        score = builder.reduce("ReduceSum", picked, [1, 2], keepdims=False)
        if all_classes:
            classes = builder.op("Flatten", [x], axis=1)
        return score, classes
    assert target.box is not None
    y0, x0, y1, x1 = target.box
    if len(target.output_shape) == 4:
        starts, ends, axes = [target.index, y0, x0], [target.index + 1, y1, x1], [1, 2, 3]
    else:
        starts, ends, axes = [y0, x0], [y1, x1], [1, 2]
    region = builder.op("Slice", [x, builder.const(np.array(starts, np.int64)),
                                  builder.const(np.array(ends, np.int64)),
                                  builder.const(np.array(axes, np.int64))])
    score = builder.reduce("ReduceMean", region, axes, keepdims=False)
    if all_classes:
        classes = builder.op("Flatten", [x], axis=1)
    return score, classes
