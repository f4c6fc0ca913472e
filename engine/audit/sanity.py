"""Model parameter randomisation test (Adebayo et al., NeurIPS 2018, arXiv:1810.03292).

The weights of the model's weighted layers (Conv, ConvTranspose, Gemm, MatMul
with an initializer weight) are replaced by seeded random values, cascading
from the output layer down to the input; after each cascade step the method's
map is computed again on the same input and compared with the original map by
Spearman's rank correlation and SSIM (both maps min-max normalised). A method
whose map does not change when what the model learned is destroyed fails.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
from onnx import ModelProto, numpy_helper

from engine.attribution.registry import run_attribution
from engine.attribution.types import AttributionRequest, AttributionResult
from engine.cancellation import CancelToken, ProgressCallback, ensure_token, no_progress
from engine.errors import InputError
from engine.graph.suffix import topological_nodes
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.session import SESSIONS, SessionCache
from engine.types import PreparedInput, Progress

#: A map whose Spearman correlation with the original stays above this after every
#: weighted layer was randomised has not changed: the method fails the check.
UNCHANGED_SPEARMAN = 0.5
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


@dataclass(frozen=True)
class SanityStep:
    """The map after randomising the top ``randomised`` weighted layers (output side first)."""

    randomised: int
    last_layer: str
    spearman: float
    ssim: float


@dataclass(frozen=True)
class SanityCheck:
    """The cascade's steps and the verdict."""

    method: str
    layers: int
    steps: tuple[SanityStep, ...]
    passed: bool
    verdict: str
    seed: int


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (0 when either is constant)."""
    ra = np.argsort(np.argsort(a.reshape(-1), kind="stable"), kind="stable").astype(np.float64)
    rb = np.argsort(np.argsort(b.reshape(-1), kind="stable"), kind="stable").astype(np.float64)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _unit(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    span = float(np.ptp(values))
    return np.zeros_like(values) if span == 0 else (values - values.min()) / span


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two maps scaled to [0, 1] (Gaussian window 11, sigma 1.5)."""
    x, y = _unit(a), _unit(b)
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def blur(v: np.ndarray) -> np.ndarray:
        result: np.ndarray = cv2.GaussianBlur(v, (11, 11), 1.5)
        return result

    mx, my = blur(x), blur(y)
    vx, vy = blur(x * x) - mx * mx, blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    value = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(value.mean())


def weighted_layers(model: ModelProto) -> list[tuple[str, list[str]]]:
    """(node name, its initializer weight and bias) of each weighted layer, output side first."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    layers = []
    for node in topological_nodes(model.graph):
        if node.op_type in WEIGHTED_OPS and len(node.input) > 1 and \
                node.input[1] in initializers:
            params = [name for name in node.input[1:3] if name in initializers]
            layers.append((node.name or node.output[0], params))
    return layers[::-1]


def randomised_model(model: LoadedModel, tensors: list[str], seed: int, tag: str
                     ) -> LoadedModel:
    """A copy of ``model`` with ``tensors`` redrawn: normal with each tensor's own mean and std."""
    proto = ModelProto()
    proto.CopyFrom(model.proto)
    rng = np.random.default_rng(seed)
    wanted = set(tensors)
    for tensor in proto.graph.initializer:
        if tensor.name not in wanted:
            continue
        value = numpy_helper.to_array(tensor)
        if value.dtype.kind != "f":
            continue
        std = float(value.std()) or 0.05
        new = rng.normal(float(value.mean()), std, value.shape).astype(value.dtype)
        tensor.CopyFrom(numpy_helper.from_array(new, tensor.name))
    digest = hashlib.sha256(f"{model.sha256}:{tag}:{seed}".encode()).hexdigest()
    return replace(model, info=replace(model.info, sha256=digest), proto=proto)


def cascading_randomisation(model: LoadedModel, prepared: PreparedInput,
                            request: AttributionRequest, cascade: int = 4, seed: int = 0,
                            preference: ProviderPreference = "auto",
                            progress: ProgressCallback = no_progress,
                            cancel: CancelToken | None = None, cache: SessionCache = SESSIONS,
                            original: AttributionResult | None = None) -> SanityCheck:
    """Randomise the weighted layers from the output down in ``cascade`` steps.

    Parameters
    ----------
    model, prepared, request
        The model, its input and the attribution to check.
    cascade
        Steps; after step i the top ceil(i * L / cascade) of the L weighted
        layers are random (the last step randomises them all).
    seed
        Seed of the random weights.
    original
        The attribution on the trained model, when already computed.

    Raises
    ------
    InputError
        The model has no weighted layer with initializer weights.
    """
    token = ensure_token(cancel)
    layers = weighted_layers(model.proto)
    if not layers:
        raise InputError("The model keeps no layer weights in initializers, so its "
                         "parameters cannot be randomised.")
    base = original or run_attribution(model, prepared, request, preference, cancel=token,
                                       cache=cache)
    steps = []
    for step in range(1, cascade + 1):
        token.check()
        progress(Progress(step, cascade, "randomising weights"))
        count = math.ceil(step * len(layers) / cascade)
        tensors = [name for _, params in layers[:count] for name in params]
        randomised = randomised_model(model, tensors, seed, f"cascade{count}")
        result = run_attribution(randomised, prepared, request, preference, cancel=token,
                                 cache=cache)
        steps.append(SanityStep(count, layers[count - 1][0],
                                spearman(base.heatmap, result.heatmap),
                                ssim(base.heatmap, result.heatmap)))
    final = steps[-1]
    passed = abs(final.spearman) < UNCHANGED_SPEARMAN
    verdict = (f"passed: with all {len(layers)} weighted layers randomised the map changes "
               f"(Spearman {final.spearman:.2f}, SSIM {final.ssim:.2f})" if passed else
               f"FAILED: with all {len(layers)} weighted layers randomised the map barely "
               f"changes (Spearman {final.spearman:.2f}, SSIM {final.ssim:.2f}): it does not "
               "depend on what the model learned")
    return SanityCheck(method=request.method, layers=len(layers), steps=tuple(steps),
                       passed=passed, verdict=verdict, seed=seed)
