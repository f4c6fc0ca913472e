"""A toy attribution method declared in one module, as a new method would be.

Used by the tests that check a method added in one module and one registry line
appears in the CLI (``featurescope attribute --help``) and in the GUI's panel.
Its map is a closed form: ``level`` on the main diagonal band of width
``band`` (``shape`` chooses a square or a cross), zero elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.attribution.context import Context
from engine.attribution.method_spec import Method, MethodOutput, PassQuery, param
from engine.cancellation import CancelToken, ProgressCallback


@dataclass(frozen=True)
class ToyParams:
    """The toy's parameters: one number with a range, one choice."""

    level: int = param(3, "int", "value painted on the band", low=1, high=9,
                       effect="higher: a brighter band")
    shape: str = param("diagonal", "choice", "where the band goes",
                       choices=("diagonal", "cross"))


def toy_map(height: int, width: int, params: ToyParams) -> np.ndarray:
    """The toy's closed-form map."""
    rows, cols = np.indices((height, width))
    if params.shape == "diagonal":
        band = np.abs(rows * width - cols * height) <= max(height, width)
    else:
        band = (np.abs(rows - height // 2) <= 1) | (np.abs(cols - width // 2) <= 1)
    return np.where(band, float(params.level), 0.0).astype(np.float32)


def run(ctx: Context, params: ToyParams, progress: ProgressCallback,
        cancel: CancelToken) -> MethodOutput:
    """Paint the band; no pass beyond the reference run."""
    del progress
    cancel.check()
    height, width = ctx.geometry.size
    return MethodOutput(heatmap=toy_map(height, width, params), forward_passes=0,
                        batch_size=1, path="numpy")


def estimate_passes(query: PassQuery, params: ToyParams) -> int:
    """None beyond the reference run."""
    del query, params
    return 0


METHOD = Method(name="toy", title="Toy", description="Paints a band; for tests only.",
                params_type=ToyParams, run=run, estimate_passes=estimate_passes)
