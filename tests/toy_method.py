"""A toy attribution method declared in one module, as every engine method is.

Tests register it in :data:`engine.attribution.registry.METHODS` (monkeypatched)
and expect the CLI (``featurescope attribute --help`` and a run) and the GUI (its
panel and form) to list it, generate its flags and fields and run it: nothing else
names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.attribution.context import Context
from engine.attribution.method_spec import Method, MethodOutput, PassQuery, param
from engine.cancellation import CancelToken, ProgressCallback


@dataclass(frozen=True)
class ToyParams:
    """The toy's parameters: a bounded int and a choice."""

    level: int = param(3, "int", "value of every pixel of the map", low=1, high=9,
                       effect="higher: a brighter map at no extra cost")
    shade: str = param("warm", "choice", "a label kept in the result's variant",
                       choices=("warm", "cold", "grey"))


def run(ctx: Context, params: ToyParams, progress: ProgressCallback,
        cancel: CancelToken) -> MethodOutput:
    """A constant map of ``level`` at the input's size; no perturbed pass."""
    del progress
    cancel.check()
    height, width = ctx.geometry.size
    heatmap = np.full((height, width), float(params.level), dtype=np.float32)
    return MethodOutput(heatmap=heatmap, forward_passes=0, batch_size=1, path="constant",
                        variant=params.shade)


def estimate_passes(query: PassQuery, params: ToyParams) -> int:
    """The toy scores no perturbed input."""
    del query, params
    return 0


METHOD = Method(
    name="toy-constant", title="Toy constant",
    description="A constant map for tests; no forward pass beyond the reference run.",
    params_type=ToyParams, run=run, estimate_passes=estimate_passes)
