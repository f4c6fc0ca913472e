"""Occlusion: Captum's window semantics and the closed form on a linear model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from engine.attribution.types import Target
from engine.attribution.windows import count_passes, window_boxes
from tests import models
from tests.engine.attribution._helpers import attribute, npy_input, save_and_load


def _linear_gradient() -> np.ndarray:
    """d score / d input of :func:`tests.models.linear` (3, 16, 16), from its weights."""
    weight, _ = models.linear_weights()
    grad = np.zeros((3, 16, 16))
    for c in range(3):
        for p in range(16):
            for q in range(16):
                for i in range(3):
                    for j in range(3):
                        if 0 <= p - i + 1 < 16 and 0 <= q - j + 1 < 16:
                            grad[c, p, q] += weight[:, c, i, j].sum()
    return grad


def _closed_form(x: np.ndarray, baseline: float, window: tuple[int, int],
                 stride: tuple[int, int]) -> np.ndarray:
    """Mean over covering windows of sum_window grad * (x - baseline), written out."""
    contribution = (_linear_gradient() * (x[0] - baseline)).sum(axis=0)
    total, count = np.zeros((16, 16)), np.zeros((16, 16))
    rows = math.ceil((16 - window[0]) / stride[0]) + 1
    cols = math.ceil((16 - window[1]) / stride[1]) + 1
    for i in range(rows):
        for j in range(cols):
            y0, x0 = i * stride[0], j * stride[1]
            y1, x1 = min(y0 + window[0], 16), min(x0 + window[1], 16)
            drop = contribution[y0:y1, x0:x1].sum()
            total[y0:y1, x0:x1] += drop
            count[y0:y1, x0:x1] += 1
    return total / count


def test_window_positions_follow_captum() -> None:
    assert count_passes(224, 224, (16, 16), (8, 8)) == 27 * 27 == 729
    assert count_passes(16, 16, (4, 5), (3, 5)) == 5 * 4
    boxes = window_boxes(16, 16, (4, 5), (3, 5))
    assert boxes[-1].tolist() == [12, 15, 16, 16]  # last window cut off at the edge
    assert count_passes(10, 10, (20, 20), (4, 4)) == 1


@pytest.mark.parametrize(("window", "stride", "baseline", "fused"), [
    ((4, 4), (3, 3), 0.0, True),
    ((4, 5), (3, 5), 0.5, True),
    ((4, 5), (3, 5), 0.5, False),
    ((3, 3), (2, 2), 0.0, False),
])
def test_linear_model_matches_closed_form(tmp_path: Path, window: tuple[int, int],
                                          stride: tuple[int, int], baseline: float,
                                          fused: bool) -> None:
    model = save_and_load(models.linear(), tmp_path, "linear")
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    result = attribute(model, prepared, "occlusion", window=window, stride=stride,
                       baseline=str(baseline), fused=fused)
    expected = _closed_form(x.astype(np.float64), baseline, window, stride)
    assert result.path == ("fused" if fused else "numpy")
    assert result.heatmap.shape == (16, 16) and result.heatmap.dtype == np.float32
    np.testing.assert_allclose(result.heatmap, expected, rtol=1e-4, atol=1e-3)
    assert result.perturbation_passes == count_passes(16, 16, window, stride)
    assert result.target_score == pytest.approx(
        float(models.linear_weights()[1].sum() * 256 + (_linear_gradient() * x[0]).sum()),
        rel=1e-4)


@pytest.mark.parametrize("baseline", ["0", "mean", "blur", "-0.25"])
def test_fused_matches_numpy_on_an_image(tmp_path: Path, chelsea: Path, baseline: str) -> None:
    from engine.preprocess import prepare_input

    model = save_and_load(models.cnn2d(), tmp_path, "cnn2d")
    prepared = prepare_input(model.info, chelsea)
    fused = attribute(model, prepared, "occlusion", window=8, stride=6, baseline=baseline)
    plain = attribute(model, prepared, "occlusion", window=8, stride=6, baseline=baseline,
                      fused=False)
    assert fused.path == "fused" and plain.path == "numpy"
    np.testing.assert_allclose(fused.heatmap, plain.heatmap, rtol=1e-4, atol=1e-6)
    assert np.ptp(fused.heatmap) > 0


def test_nhwc_model_fused_matches_numpy(tmp_path: Path) -> None:
    model = save_and_load(models.nhwc_input(), tmp_path, "nhwc")
    x = np.random.default_rng(2).standard_normal((1, 32, 32, 3)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    target = Target(kind="class", index=2, score="logit")
    fused = attribute(model, prepared, "occlusion", target=target, window=(6, 10), stride=5)
    plain = attribute(model, prepared, "occlusion", target=target, window=(6, 10), stride=5,
                      fused=False)
    assert fused.heatmap.shape == (32, 32)
    np.testing.assert_allclose(fused.heatmap, plain.heatmap, rtol=1e-4, atol=1e-6)
