"""Score-CAM in two named variants, fused into the graph or with numpy masks.

``paper`` (the authors' formulation): mask H_k = min-max normalised bilinear
upsampling of channel k (half-pixel centres) to the input size; the masked
input is ``baseline + H_k * (image - baseline)`` on the image *before* the
model's normalisation (black baseline); w_k = the target probability of the
masked input (a constant channel gets w_k = 0 and costs no pass);
map = min-max(ReLU(sum_k w_k Up(A_k))).

``pytorch-grad-cam`` (that library's ScoreCAM): upsampling with aligned
corners, H_k = (up - min) / (max - min + 1e-8), the model's input tensor is
multiplied by H_k, the raw target output is scored, w = softmax over the
channels, map = ReLU(sum_k w_k A_k) at the layer's resolution, min-max
normalised (1e-7), resized with OpenCV and min-max normalised again. Constant
channels all get the score of the all-zero input, computed once.

Option ``channels=N`` keeps the N channels with the largest spatial variance
(Faster Score-CAM).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.attribution.activations import Activations
from engine.attribution.context import Context
from engine.attribution.fused_graphs import BASELINE, IMAGE, SLICES, score_cam_graph
from engine.attribution.image_tensors import from_spatial, spatial, top_variance
from engine.attribution.method_spec import (
    Method,
    MethodOutput,
    PassQuery,
    channels_param,
    fused_param,
    param,
)
from engine.attribution.resample import minmax, minmax_channels, resize_maps
from engine.attribution.targets import softmax
from engine.attribution.types import ScoreMode
from engine.cancellation import CancelToken, ProgressCallback
from engine.types import InputSpec

VARIANTS = ("paper", "pytorch-grad-cam")
_SCALE = {"0..1": (1.0 / 255.0, 0.0), "0..255": (1.0, 0.0), "-1..1": (1.0 / 127.5, -1.0)}
PGC_EPS = 1e-8


def normalisation(spec: InputSpec | None, channels: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel (alpha, beta) with tensor = pixels * alpha + beta, or None for raw tensors."""
    if spec is None:
        return None
    a, b = _SCALE[spec.scale]
    mean = np.resize(np.asarray(spec.mean, dtype=np.float64), channels)
    std = np.resize(np.asarray(spec.std, dtype=np.float64), channels)
    return a / std, (b - mean) / std


def _layout(chw_batch: np.ndarray, layout: str) -> np.ndarray:
    return chw_batch if layout == "NCHW" else np.transpose(chw_batch, (0, 2, 3, 1))


@dataclass(frozen=True)
class ScoreCamParams:
    """Score-CAM's parameters."""

    variant: str = param("paper", "choice", "the authors' formulation (paper) or "
                         "pytorch-grad-cam's (to compare with that library)", choices=VARIANTS)
    channels: int = channels_param()
    fused: bool = fused_param()


def run(ctx: Context, params: ScoreCamParams, progress: ProgressCallback,
        cancel: CancelToken) -> MethodOutput:
    """Score-CAM of the context's layer (see the module docstring for the variants)."""
    del progress, cancel  # the context's batch loops report and check them
    return score_cam(ctx, ctx.layer_activations(), params.variant, params.channels or None,
                     params.fused)


def estimate_passes(query: PassQuery, params: ScoreCamParams) -> int:
    """One pass per kept non-constant channel (+1 shared pass for the constant ones, pgc)."""
    if query.activations is None:
        total = query.layer.channels if query.layer is not None and query.layer.channels else 0
        return min(params.channels, total) if params.channels and total else total
    kept, constant = _kept_channels(query.activations.maps, params.channels or None)
    skipped = int(constant.sum())
    extra = 1 if params.variant == "pytorch-grad-cam" and skipped else 0
    return len(kept) - skipped + extra


def _kept_channels(maps: np.ndarray, channels: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The channels used (largest spatial variance first) and which of them are constant."""
    kept = top_variance(maps, channels)
    flat = maps[kept].reshape(len(kept), -1)
    return kept, flat.max(axis=1) - flat.min(axis=1) <= 0


def score_mode(params: ScoreCamParams) -> ScoreMode:
    """pytorch-grad-cam scores the raw output; the paper the probability."""
    return "logit" if params.variant == "pytorch-grad-cam" else "probability"


def score_cam(ctx: Context, acts: Activations, variant: str = "paper",
              channels: int | None = None, fused: bool = True) -> MethodOutput:
    """Weight each activation channel by the score of the input it masks.

    Parameters
    ----------
    ctx
        Prepared model, input and target (for ``pytorch-grad-cam`` resolved
        with raw scores).
    acts
        The layer's activations.
    variant
        ``paper`` or ``pytorch-grad-cam``.
    channels
        Keep only this many channels, those with the largest spatial variance.
    fused
        Build the masked inputs inside the graph (else in numpy).
    """
    geo = ctx.geometry
    maps = acts.maps
    k_total, h, w = maps.shape
    kept, constant = _kept_channels(maps, channels)
    active = kept[~constant]
    pgc = variant == "pytorch-grad-cam"
    align, eps = (True, PGC_EPS) if pgc else (False, 0.0)
    image = ctx.image()
    affine = None if pgc else normalisation(ctx.prepared.spec, geo.channels)
    if affine is not None:
        alpha, beta = affine
        shape = geo.channel_shape()
        pixels = ((image - beta.reshape(shape)) / alpha.reshape(shape)).astype(np.float32)
    else:
        pixels = image
    base = np.zeros_like(pixels)
    path = "numpy"
    scores = np.zeros(0)
    size = ctx.batch_size
    if len(active) and fused and ctx.can_fuse():
        slices = maps.astype(np.float32)
        key = f"score-cam:{variant}:{h}x{w}:{None if affine is None else np.round(affine, 8)}"
        session = ctx.fused_session(key, lambda proto, elem, nodes: score_cam_graph(
            proto, ctx.main_input, geo, (h, w), ctx.target.output, elem, nodes, align, eps,
            affine))
        scores, _, size = ctx.fused_scores(
            session, len(active), lambda idx: {SLICES: slices[active[idx]]},
            message="score-cam", constants={IMAGE: pixels, BASELINE: base})
        path = "fused"
    elif len(active):
        chw, base_chw = spatial(pixels, geo)[None], spatial(base, geo)[None]

        def make(idx: np.ndarray) -> np.ndarray:
            masks = minmax_channels(resize_maps(maps[active[idx]], (geo.height, geo.width),
                                                align), eps).astype(np.float32)
            batch = base_chw + masks[:, None] * (chw - base_chw)
            if affine is not None:
                batch = batch * affine[0][None, :, None, None] + affine[1][None, :, None, None]
            return _layout(batch.astype(np.float32), geo.layout)

        scores, _, size = ctx.plain_scores(len(active), make, message="score-cam")
    passes = len(active)
    skipped = int(constant.sum())
    notes: list[str] = []
    weights = np.zeros(k_total)
    if pgc:
        all_scores = np.zeros(len(kept))
        all_scores[~constant] = scores
        if skipped:
            zero = from_spatial(np.zeros_like(spatial(image, geo)), geo)
            value = ctx.run_plain(zero)[ctx.target.output]
            all_scores[constant] = ctx.target.score(value)[0]
            passes += 1
            notes.append(f"{skipped} constant channels share one pass (their masked input "
                         "is all zeros)")
        weights[kept] = softmax(all_scores)
        cam = np.maximum(np.tensordot(weights, maps, axes=1), 0.0)
        cam = cam - cam.min()
        cam = cam / (1e-7 + cam.max())
        cam = cv2.resize(cam.astype(np.float32), (geo.width, geo.height),
                         interpolation=cv2.INTER_LINEAR)
        cam = cam - cam.min()
        heatmap = cam / (1e-7 + cam.max())
    else:
        weights[active] = scores
        if skipped:
            notes.append(f"skipped {skipped} constant channels (weight 0 by definition)")
        combined = resize_maps(np.tensordot(weights, maps, axes=1), (geo.height, geo.width))
        heatmap = minmax(np.maximum(combined, 0.0))
    if channels and len(kept) < k_total:
        notes.append(f"Faster Score-CAM: the {len(kept)} of {k_total} channels with the "
                     "largest spatial variance")
    return MethodOutput(heatmap=np.asarray(heatmap, dtype=np.float32), forward_passes=passes,
                        batch_size=size, path=path, variant=variant, notes=notes,
                        stats={"channels_total": float(k_total), "channels_used": float(len(kept)),
                               "constant_channels_skipped": float(skipped)})


METHOD = Method(
    name="score-cam", title="Score-CAM",
    description="Weights each channel of a layer by the score of the input masked with it; "
    "one forward pass per non-constant channel.",
    params_type=ScoreCamParams, run=run, estimate_passes=estimate_passes, needs_layer=True,
    score_mode=score_mode,
    estimate_is_exact=False)
