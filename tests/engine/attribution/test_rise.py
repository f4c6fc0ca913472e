"""RISE: seeded reproducibility, class maps, fused/numpy agreement."""

from __future__ import annotations

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
    assert a.forward_passes == 48


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


def test_masks_match_the_rise_construction() -> None:
    masks = make_masks(20, 4, 0.5, 32, 32, seed=0)
    values = masks.masks(np.arange(20))
    assert values.shape == (20, 32, 32)
    assert values.min() >= 0.0 and values.max() <= 1.0
    # A grid of all ones upsamples to an all-ones mask whatever the shift.
    ones = masks.rows[masks.row_shift[:1]] @ np.ones((1, 4, 4), np.float32) \
        @ masks.cols[masks.col_shift[:1]]
    np.testing.assert_allclose(ones, 1.0, atol=1e-6)
    assert 0.3 < masks.grids.mean() < 0.7
