"""What a recognised output head is, what it predicts, and what a recogniser sees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.types import ImageTransform, ModelInfo

HeadKind = Literal["classifier", "dense-detection", "detection", "map", "ctc", "argmax",
                   "unknown"]


@dataclass(frozen=True)
class PredictionItem:
    """One thing the model predicts, in the original image's pixels.

    ``target`` is the text ``--target`` accepts to explain this prediction;
    ``box`` is (x0, y0, x1, y1) and ``point`` (x, y), both in original image
    pixels; ``text`` a decoded character sequence.
    """

    label: str
    score: float
    target: str
    box: tuple[float, float, float, float] | None = None
    point: tuple[float, float] | None = None
    text: str | None = None
    class_index: int | None = None
    #: The effective stride of the map cell that made this prediction (0: not a dense head).
    stride: int = 0

    def as_json(self) -> dict[str, object]:
        """The item as the ``predict --json`` contract writes it."""
        data: dict[str, object] = {"label": self.label, "score": float(self.score),
                                   "target": self.target}
        if self.box is not None:
            data["box"] = [round(float(v), 2) for v in self.box]
        if self.point is not None:
            data["point"] = [round(float(v), 2) for v in self.point]
        if self.text is not None:
            data["text"] = self.text
        return data


@dataclass(frozen=True)
class Head:
    """A recognised output head: its kind, the output it reads and why it was recognised.

    ``stride`` is the effective stride of the map a dense head reads (0: none);
    ``moved_from`` names the integer output (ArgMax, TopK, NMS, Cast) whose
    input the head reads instead, with the reason in ``reason``.
    """

    kind: HeadKind
    output: str
    reason: str
    outputs: tuple[str, ...] = ()
    stride: int = 0
    moved_from: str | None = None


@dataclass(frozen=True)
class HeadContext:
    """What recognisers look at: the model card, one real run, the input geometry, labels.

    ``values`` holds the original outputs of one run on the user's input (and,
    for outputs made by ArgMax/TopK/NMS/Cast, the tensors they consume);
    ``input_size`` is the model input's (H, W); ``transform`` maps original
    image pixels onto it (None for tensors given as is).
    """

    info: ModelInfo
    values: dict[str, np.ndarray]
    output_names: tuple[str, ...]
    input_size: tuple[int, int]
    transform: ImageTransform | None
    labels: tuple[str, ...] = ()
    charset: tuple[str, ...] = ()
    producers: dict[str, str] = field(default_factory=dict)

    def label(self, index: int) -> str:
        """The name of class ``index`` (``class N`` when unnamed)."""
        return self.labels[index] if 0 <= index < len(self.labels) else f"class {index}"

    def box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """An (x0, y0, x1, y1) box in model-input pixels, in original image pixels."""
        if self.transform is None:
            return box
        return self.transform.box_to_original(box)

    def point(self, x: float, y: float) -> tuple[float, float]:
        """A model-input point (x, y) in original image pixels."""
        if self.transform is None:
            return x, y
        oy, ox = self.transform.to_original(y, x)
        return ox, oy


@dataclass(frozen=True)
class Recogniser:
    """One head recogniser: ``recognise`` says whether the outputs look like its head,
    ``decode`` turns them into predictions (best first)."""

    kind: HeadKind
    recognise: Callable[[HeadContext], Head | None]
    decode: Callable[[HeadContext, Head], tuple[PredictionItem, ...]]


@dataclass(frozen=True)
class Predictions:
    """A head and its predictions, best first."""

    head: Head
    items: tuple[PredictionItem, ...]
    notes: tuple[str, ...] = ()
