"""Frozen results of a model comparison (they cross the engine boundary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.types import RunInfo

MatchKind = Literal["name", "position", "cka"]
StrategyName = Literal["batch-by-batch", "layer-windows"]


@dataclass(frozen=True)
class PairResult:
    """One matched layer pair and its error figures (over every input).

    ``max_abs``, ``rel_l2``, ``cosine`` and ``snr_db`` compare B run end to end
    with A (accumulated error); ``local_rel_l2`` and ``local_max_abs`` compare
    B's layer computed from A's activations at its inputs with A (local error).
    A figure that cannot be computed (shapes differ, a CKA match between
    different layers) is None; ``snr_db`` is infinite for identical tensors.
    """

    index: int
    a: str
    b: str
    a_tensor: str
    b_tensor: str
    match: MatchKind
    shape: tuple[int, ...] | None
    max_abs: float | None
    rel_l2: float | None
    cosine: float | None
    snr_db: float | None
    local_rel_l2: float | None
    local_max_abs: float | None
    per_channel_rel_l2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cka: float | None = None
    note: str = ""


@dataclass(frozen=True)
class OutputResult:
    """Agreement of one model output of B with A's."""

    a: str
    b: str
    shape: tuple[int, ...]
    max_abs: float | None
    rel_l2: float | None
    classifier: bool
    top1_agreement: float | None


@dataclass(frozen=True)
class OutputAgreement:
    """Output agreement over every input: top-1 for classifiers, max difference otherwise."""

    outputs: tuple[OutputResult, ...]
    top1_agreement: float | None
    max_abs: float | None


@dataclass(frozen=True)
class CkaMatrix:
    """Linear CKA between the layers left unmatched by name and position."""

    a_layers: tuple[str, ...]
    b_layers: tuple[str, ...]
    values: np.ndarray
    examples: int


@dataclass(frozen=True)
class Strategy:
    """How the comparison was streamed to stay within the memory budget.

    ``batch-by-batch``: every layer exposed at once, one input at a time;
    ``layer-windows``: the pairs split into windows (``windows`` holds the pair
    count of each), every window over every input. ``keep_sessions``: a
    window's sessions serve every input (else each is dropped after its run).
    """

    name: StrategyName
    windows: tuple[int, ...]
    inputs: int
    budget_bytes: int
    estimated_bytes: int
    reason: str
    keep_sessions: bool = False


@dataclass(frozen=True)
class ComparisonResult:
    """Everything :func:`engine.compare.compare_models` found."""

    model_a_sha256: str
    model_b_sha256: str
    sources: tuple[str, ...]
    pairs: tuple[PairResult, ...]
    first_divergence: int | None
    tolerance: float
    tolerance_rule: str
    b_quantized: bool
    outputs: OutputAgreement
    strategy: Strategy
    unmatched_a: tuple[str, ...]
    unmatched_b: tuple[str, ...]
    cka: CkaMatrix | None
    run_a: RunInfo | None
    run_b: RunInfo | None
    timings: tuple[tuple[str, float], ...] = ()
    notes: tuple[str, ...] = ()

    def divergent_pair(self) -> PairResult | None:
        """The pair named by ``first_divergence``, if any."""
        return None if self.first_divergence is None else self.pairs[self.first_divergence]
