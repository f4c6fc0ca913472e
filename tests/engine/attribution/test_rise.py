"""RISE: seeded reproducibility, class maps, fused/numpy agreement."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from engine.attribution.rise import make_masks
from tests import models
from tests.engine.attribution._helpers import attribute, npy_input, save_and_load


def _cnn(tmp_path: Path):  # type: ignore[no-untyped-def]
    model = save_and_load(models.cnn2d(), tmp_path, "cnn2d")
    x = np.random.default_rng(4).standard_normal((1, 3, 32, 32)).astype(np.float32)
    return model, npy_input(model, x, tmp_path)


def test_same_seed_same_map_other_seed_other_map(tmp_path: Path) -> None:
    model, prepared = _cnn(tmp_path)
    a = attribute(model, prepared, "rise", masks=48, seed=3)
    b = attribute(model, prepared, "rise", masks=48, seed=3)
    c = attribute(model, prepared, "rise", masks=48, seed=4)
    np.testing.assert_array_equal(a.heatmap, b.heatmap)
    assert not np.allclose(a.heatmap, c.heatmap)
    assert a.perturbation_passes == 48


def test_class_maps_cover_every_class_and_include_the_target(tmp_path: Path) -> None:
    model, prepared = _cnn(tmp_path)
    result = attribute(model, prepared, "rise", masks=40, seed=1, class_maps=0)
    assert result.class_maps is not None and result.class_maps.shape == (10, 32, 32)
    assert result.class_indices == tuple(range(10))
    row = result.class_indices.index(result.target_index)
    np.testing.assert_allclose(result.class_maps[row], result.heatmap, rtol=1e-5, atol=1e-7)
    limited = attribute(model, prepared, "rise", masks=40, seed=1, class_maps=3)
    assert limited.class_maps is not None and len(limited.class_indices) == 3
    assert limited.target_index in limited.class_indices


def test_fused_matches_numpy(tmp_path: Path) -> None:
    model, prepared = _cnn(tmp_path)
    fused = attribute(model, prepared, "rise", masks=40, seed=2)
    plain = attribute(model, prepared, "rise", masks=40, seed=2, fused=False)
    assert fused.path == "fused" and plain.path == "numpy"
    np.testing.assert_allclose(fused.heatmap, plain.heatmap, rtol=1e-5, atol=1e-6)


def _rise_masks_by_opencv(masks, height: int, width: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """RISE's construction (Petsiuk et al., 2018), written out with OpenCV: each binary
    s x s grid bilinearly upsampled (half-pixel centres, edges replicated) to
    (s + 1) * cell pixels per side, cell = ceil(size / s), then cropped at its shift."""
    import cv2

    count, grid = masks.grids.shape[:2]
    cell_h, cell_w = math.ceil(height / grid), math.ceil(width / grid)
    out = np.empty((count, height, width))
    for i in range(count):
        up = cv2.resize(masks.grids[i].astype(np.float64), ((grid + 1) * cell_w,
                        (grid + 1) * cell_h), interpolation=cv2.INTER_LINEAR)
        dy, dx = int(masks.row_shift[i]), int(masks.col_shift[i])
        out[i] = up[dy:dy + height, dx:dx + width]
    return out


def test_masks_match_the_rise_construction() -> None:
    height, width, grid = 32, 30, 4  # not square, so swapped axes show
    masks = make_masks(40, grid, 0.5, height, width, seed=0)
    values = masks.masks(np.arange(40))
    assert values.shape == (40, height, width)
    assert set(np.unique(masks.grids).tolist()) <= {0.0, 1.0}
    assert 0.3 < masks.grids.mean() < 0.7  # cells kept with probability 0.5
    cell_h, cell_w = math.ceil(height / grid), math.ceil(width / grid)
    assert masks.row_shift.min() >= 0 and masks.row_shift.max() < cell_h
    assert masks.col_shift.min() >= 0 and masks.col_shift.max() < cell_w
    assert len(set(masks.row_shift.tolist())) > 1  # the shifts are really drawn
    # float32 interpolation matrices against OpenCV in float64: rounding only.
    np.testing.assert_allclose(values, _rise_masks_by_opencv(masks, height, width),
                               rtol=0, atol=1e-6)


def test_heatmap_is_the_score_weighted_mean_of_the_masks(tmp_path: Path) -> None:
    """saliency = sum_i p(target | x * M_i) M_i / (N * p), scored with plain onnxruntime."""
    import onnxruntime as ort

    model, prepared = _cnn(tmp_path)
    x = prepared.feed_dict()["input"]
    result = attribute(model, prepared, "rise", masks=40, grid=4, probability=0.5, seed=2)
    masks = _rise_masks_by_opencv(make_masks(40, 4, 0.5, 32, 32, seed=2), 32, 32)
    session = ort.InferenceSession(model.proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": (x * masks[:, None]).astype(np.float32)})[0]
    e = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
    scores = (e / e.sum(axis=1, keepdims=True))[:, result.target_index]
    expected = np.tensordot(scores, masks, axes=1) / (40 * 0.5)
    # Map values ~0.1; measured max |diff| 1e-8 (another seed's masks: 5e-2).
    np.testing.assert_allclose(result.heatmap, expected, rtol=1e-5, atol=1e-7)
