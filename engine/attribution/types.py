"""Frozen data exchanged with attribution methods (the contract for CLI and GUI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

TargetKind = Literal["top1", "class", "element", "region", "sequence"]
ScoreMode = Literal["auto", "probability", "logit"]


@dataclass(frozen=True)
class Target:
    """The scalar per input that an attribution explains.

    ``top1``: the top-1 class of ``output``; ``class``: class ``index``;
    ``element``: one element (flat ``index`` or ``coords`` after the batch axis);
    ``region``: the mean over ``box`` = (y0, x0, y1, x1) of channel ``index``
    of a map-like output (segmentation/detection maps); ``sequence``: the
    log-probability of the symbol path ``coords`` (one symbol per step) of a
    [batch, steps, symbols] output (a CTC recogniser's decoded line).
    ``output`` is an output name; None means the model's first output.
    """

    kind: TargetKind = "top1"
    index: int = 0
    coords: tuple[int, ...] = ()
    box: tuple[int, int, int, int] | None = None
    output: str | None = None
    score: ScoreMode = "auto"

    def describe(self) -> str:
        """A short human description, e.g. ``class 285 of logits``."""
        where = f" of {self.output}" if self.output else ""
        if self.kind == "top1":
            return f"top-1 class{where}"
        if self.kind == "class":
            return f"class {self.index}{where}"
        if self.kind == "element":
            return f"element {self.coords or self.index}{where}"
        if self.kind == "sequence":
            return f"log-probability of a {len(self.coords)}-step symbol path{where}"
        return f"mean of channel {self.index} over {self.box}{where}"


@dataclass(frozen=True)
class AttributionRequest:
    """What to compute: a method, its target, its layer and its parameters.

    ``params`` holds method parameters as (name, value) pairs, e.g.
    ``(("window", (16, 16)), ("stride", (8, 8)), ("baseline", "0"))``.
    ``batch_size`` None lets the engine choose (grown while memory allows);
    ``exact_fp32`` switches TensorFloat-32 off on CUDA (no effect on CPU).
    """

    method: str
    target: Target = field(default_factory=Target)
    layer: str | None = None
    params: tuple[tuple[str, object], ...] = ()
    batch_size: int | None = None
    request_id: int = 0
    exact_fp32: bool = False

    def param(self, name: str, default: object = None) -> object:
        """Return one parameter value."""
        for key, value in self.params:
            if key == name:
                return value
        return default


@dataclass(frozen=True)
class AttributionResult:
    """A heatmap and everything needed to reproduce and judge it.

    ``heatmap`` is float32 at the input's spatial resolution (H, W) with the
    method's raw values, before any display normalisation. ``class_maps``
    (RISE) holds one map per class in ``class_indices``. ``path`` says how the
    perturbed inputs were made (``fused`` in the graph, ``numpy`` masks, or
    ``suffix`` for layer ablations); ``stats`` holds method-specific numbers
    (channels skipped, windows, ...). ``forward_passes`` counts every input the
    model evaluated for this result (the reference run, batching checks and
    the perturbed passes; a batch of 32 counts 32), ``session_runs`` the
    onnxruntime runs that took, and ``perturbation_passes`` the method's own
    perturbed inputs (what :func:`engine.attribution.registry.plan_attribution`
    predicts).
    """

    method: str
    variant: str
    heatmap: np.ndarray
    target: Target
    target_index: int
    target_score: float
    layer: str | None
    params: tuple[tuple[str, object], ...]
    forward_passes: int
    batch_mode: str
    batch_size: int
    provider: str
    seconds: float
    notes: tuple[str, ...] = ()
    request_id: int = 0
    class_maps: np.ndarray | None = None
    class_indices: tuple[int, ...] = ()
    path: str = ""
    stats: tuple[tuple[str, float], ...] = ()
    exact_fp32: bool = False
    perturbation_passes: int = 0
    session_runs: int = 0
