"""Deletion and insertion curves of an attribution map (Petsiuk et al., RISE, BMVC 2018).

Definitions (followed exactly):

- Pixels are ranked by the heatmap, highest first, ties by row-major index.
- ``N`` equal steps (default: the number of rows of the input); after step
  ``k`` the first ``floor(k * P / N)`` ranked pixels (of ``P = H * W``) are
  changed, all channels of a pixel together, in the model's input space
  (after preprocessing).
- Deletion starts from the input and sets the changed pixels to 0.
- Insertion starts from the input blurred per channel with a Gaussian of
  kernel 11 and sigma 5 (border reflect-101, OpenCV's default) and puts the
  original values back.
- The curve is the target's score after each step, step 0 included (N + 1
  points): a probability when the output is already a softmax or the score mode
  is ``probability``, else the raw score.
- AUC: the trapezoid area with x spread evenly over [0, 1].

The curve runs as fused batches in the ONNX graph (:mod:`engine.audit.step_graphs`):
the ranks go in once, each batch sends only its step counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from engine.attribution.context import Context
from engine.attribution.image_tensors import from_spatial, spatial
from engine.attribution.registry import attribute_in_context
from engine.attribution.types import AttributionRequest, AttributionResult, ScoreMode
from engine.audit.step_graphs import (
    COUNTS,
    RANKS,
    REPLACEMENT,
    START,
    float_ranks,
    pixel_ranks,
    steps_graph,
)
from engine.cancellation import CancelToken, ProgressCallback, no_progress
from engine.errors import InputError
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.run_meter import count_runs
from engine.session import SESSIONS, SessionCache
from engine.types import PreparedInput

Metric = Literal["deletion", "insertion"]
METRICS: tuple[Metric, ...] = ("deletion", "insertion")
BLUR_KERNEL = 11
BLUR_SIGMA = 5.0


@dataclass(frozen=True)
class Curve:
    """One metric's curve: scores after steps 0..N and its AUC."""

    metric: Metric
    scores: np.ndarray
    auc: float


@dataclass(frozen=True)
class Faithfulness:
    """An attribution and its faithfulness curves, with the passes they cost."""

    attribution: AttributionResult
    curves: tuple[Curve, ...]
    steps: int
    score_mode: ScoreMode
    path: str
    forward_passes: int
    seconds: float
    curve_seconds: float = 0.0
    batch_size: int = 1

    def curve(self, metric: Metric) -> Curve:
        """The curve of ``metric``."""
        return next(c for c in self.curves if c.metric == metric)


def auc(scores: np.ndarray) -> float:
    """Trapezoid area under ``scores`` with x spread evenly over [0, 1]."""
    if len(scores) < 2:
        return 0.0
    values = np.asarray(scores, dtype=np.float64)
    return float(((values[1:] + values[:-1]) / 2.0).sum() / (len(values) - 1))


def step_counts(pixels: int, steps: int) -> np.ndarray:
    """Pixels changed after each step 0..steps: ``floor(k * P / N)``."""
    return (np.arange(steps + 1, dtype=np.int64) * pixels) // steps


def blurred(image: np.ndarray, ctx: Context) -> np.ndarray:
    """The input blurred per channel (Gaussian, kernel 11, sigma 5, reflect-101)."""
    chw = spatial(image, ctx.geometry).astype(np.float32)
    smooth = np.stack([cv2.GaussianBlur(c, (BLUR_KERNEL, BLUR_KERNEL), BLUR_SIGMA,
                                        borderType=cv2.BORDER_REFLECT_101) for c in chw])
    return from_spatial(smooth, ctx.geometry)


def _ends(metric: Metric, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    image = ctx.image()
    if metric == "deletion":
        return image, np.zeros_like(image)
    return blurred(image, ctx), image


def _curve_fused(ctx: Context, metric: Metric, ranks: np.ndarray, counts: np.ndarray
                 ) -> np.ndarray:
    start, replacement = _ends(metric, ctx)
    geo = ctx.geometry
    shaped = ranks[None, None] if geo.layout == "NCHW" else ranks[None, :, :, None]
    exact_in_float = float_ranks(geo)
    if exact_in_float:
        shaped, counts = shaped.astype(np.float32), counts.astype(np.float32)
    session = ctx.fused_session(
        "steps" if exact_in_float else "steps-int64",
        lambda proto, elem, nodes: steps_graph(proto, ctx.main_input, geo, ctx.target.output,
                                               elem, nodes, exact_in_float))
    scores, _, _ = ctx.fused_scores(
        session, len(counts), lambda idx: {COUNTS: counts[idx]}, message=metric,
        constants={RANKS: np.ascontiguousarray(shaped), START: start,
                   REPLACEMENT: replacement})
    return scores


def _curve_numpy(ctx: Context, metric: Metric, ranks: np.ndarray, counts: np.ndarray
                 ) -> np.ndarray:
    start, replacement = _ends(metric, ctx)
    geo = ctx.geometry
    start_chw, repl_chw = spatial(start, geo), spatial(replacement, geo)

    def make(idx: np.ndarray) -> np.ndarray:
        masks = ranks[None] < counts[idx][:, None, None]  # [B, H, W]
        batch = np.where(masks[:, None], repl_chw[None], start_chw[None]).astype(np.float32)
        return batch if geo.layout == "NCHW" else np.transpose(batch, (0, 2, 3, 1))

    scores, _, _ = ctx.plain_scores(len(counts), make, message=metric)
    return scores


def evaluate(model: LoadedModel, prepared: PreparedInput, request: AttributionRequest,
             metrics: tuple[Metric, ...] = METRICS, steps: int | None = None,
             score_mode: ScoreMode = "auto", fused: bool = True,
             preference: ProviderPreference = "auto", progress: ProgressCallback = no_progress,
             cancel: CancelToken | None = None, cache: SessionCache = SESSIONS
             ) -> Faithfulness:
    """Compute an attribution and its deletion/insertion curves on the same input.

    Parameters
    ----------
    model, prepared
        The model and its input.
    request
        The attribution (method, parameters, target, layer).
    metrics
        ``deletion`` and/or ``insertion``.
    steps
        N (default: the input's number of rows).
    score_mode
        ``probability`` scores softmax probabilities, ``logit`` the raw
        output; ``auto`` the raw output, which is a probability when the
        output already is a softmax.
    fused
        Build the step masks inside the ONNX graph (else in numpy).
    preference, progress, cancel, cache
        As for :func:`engine.attribution.registry.run_attribution`.

    Raises
    ------
    InputError
        An unknown metric or a step count out of range.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise InputError(f"Unknown metric {', '.join(unknown)}; choose deletion, insertion.")
    begin = time.perf_counter()
    with count_runs() as meter:
        result, ctx = attribute_in_context(model, prepared, request, preference, progress,
                                           cancel, cache)
        geo = ctx.geometry
        count = steps or geo.height
        if not 1 <= count <= geo.height * geo.width:
            raise InputError(f"--steps must lie in [1, {geo.height * geo.width}], not {count}.")
        mode: ScoreMode = "logit" if score_mode == "auto" else score_mode
        ctx.retarget(request.target, mode)
        ranks = pixel_ranks(result.heatmap)
        counts = step_counts(geo.height * geo.width, count)
        use_fused = fused and ctx.can_fuse()
        curves = []
        curve_start = time.perf_counter()
        for metric in metrics:
            scores = (_curve_fused if use_fused else _curve_numpy)(ctx, metric, ranks, counts)
            curves.append(Curve(metric, np.asarray(scores, dtype=np.float64), auc(scores)))
    return Faithfulness(attribution=result, curves=tuple(curves), steps=count,
                        score_mode=mode, path="fused" if use_fused else "numpy",
                        forward_passes=meter.forward_passes,
                        seconds=time.perf_counter() - begin,
                        curve_seconds=time.perf_counter() - curve_start,
                        batch_size=ctx.batch_size)
