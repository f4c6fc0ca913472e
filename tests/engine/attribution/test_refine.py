"""Coarse-to-fine occlusion: exact pass counts, exact where scored, agreement with the full map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.attribution.method_spec import PassQuery
from engine.attribution.refine import coarse_positions, correlation, interpolate_grid
from engine.attribution.registry import METHODS
from engine.model_io import load_model
from engine.preprocess import prepare_input
from tests import models
from tests.engine.attribution._helpers import attribute, npy_input, save_and_load

FINE = {"window": 3, "stride": 1}  # 14 x 14 = 196 windows on the 16 x 16 linear model


def _smooth_input() -> np.ndarray:
    """A Gaussian bump with a different sign and weight per channel."""
    yy, xx = np.mgrid[0:16, 0:16]
    bump = np.exp(-((yy - 5) ** 2 + (xx - 10) ** 2) / 18.0)
    return (bump[None, None] * np.array([1.0, -0.5, 2.0])[None, :, None, None]).astype(np.float32)


def test_coarse_grid_and_interpolation_are_exact_on_a_plane() -> None:
    assert coarse_positions(14, 2).tolist() == [0, 2, 4, 6, 8, 10, 12, 13]
    assert coarse_positions(9, 4).tolist() == [0, 4, 8]
    assert coarse_positions(1, 2).tolist() == [0]
    rows, cols = coarse_positions(9, 3), coarse_positions(7, 2)
    plane = lambda i, j: 2.0 * i - 3.0 * j + 1.0  # noqa: E731 - bilinear interpolation is exact
    known = plane(rows[:, None], cols[None, :])
    got = interpolate_grid(known, rows, cols, (9, 7))
    np.testing.assert_allclose(got, plane(np.arange(9)[:, None], np.arange(7)[None, :]))


@pytest.mark.parametrize("fused", [True, False])
def test_linear_model_refined_map_agrees_with_the_full_map(tmp_path: Path, fused: bool) -> None:
    model = save_and_load(models.linear(), tmp_path, "linear")
    spec = METHODS["occlusion"]
    for name, x, floor in (("smooth", _smooth_input(), 0.999),
                           ("noise", np.random.default_rng(1).standard_normal(
                               (1, 3, 16, 16)).astype(np.float32), 0.9)):
        prepared = npy_input(model, x, tmp_path, name)
        full = attribute(model, prepared, "occlusion", fused=fused, **FINE)
        refined = attribute(model, prepared, "occlusion", fused=fused, refine=True,
                            keep_fraction=0.25, **FINE)
        compared = attribute(model, prepared, "occlusion", fused=fused, refine=True,
                             keep_fraction=0.25, compare=True, **FINE)
        stats = dict(compared.stats)
        # 8 x 8 coarse positions (every 2nd of 14, plus the last), then 25% of the other 132
        assert refined.perturbation_passes == 64 + 33 == stats["refined_passes"]
        assert refined.perturbation_passes == spec.estimate_passes(
            PassQuery((16, 16)), spec.resolve({**FINE, "refine": True, "keep_fraction": 0.25}))
        assert compared.perturbation_passes == full.perturbation_passes == 196
        assert spec.estimate_passes(PassQuery((16, 16)),
                                    spec.resolve({**FINE, "refine": True, "compare": True})) == 196
        np.testing.assert_array_equal(compared.heatmap, refined.heatmap)
        agreement = correlation(refined.heatmap, full.heatmap)
        assert stats["agreement"] == pytest.approx(agreement, abs=1e-6)
        assert agreement >= floor, name


def test_scoring_every_window_reproduces_the_full_map(tmp_path: Path) -> None:
    model = save_and_load(models.linear(), tmp_path, "linear")
    x = np.random.default_rng(2).standard_normal((1, 3, 16, 16)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    full = attribute(model, prepared, "occlusion", **FINE)
    everything = attribute(model, prepared, "occlusion", refine=True, keep_fraction=1.0, **FINE)
    assert everything.perturbation_passes == 196
    np.testing.assert_allclose(everything.heatmap, full.heatmap, rtol=1e-6, atol=1e-6)
    coarse_only = attribute(model, prepared, "occlusion", refine=True, keep_fraction=0.0,
                            coarse_step=4, **FINE)
    assert coarse_only.perturbation_passes == 5 * 5  # positions 0, 4, 8, 12, 13


def test_demo_model_refined_map_agrees_with_fewer_passes(demo_model: Path, chelsea: Path
                                                         ) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    result = attribute(model, prepared, "occlusion", window=32, stride=16, refine=True,
                       keep_fraction=0.25, compare=True)
    stats = dict(result.stats)
    assert stats["full_passes"] == 169 and stats["refined_passes"] == 49 + 30
    # Fewer passes: the refined map alone costs 79 of the 169 fine windows ...
    refined = attribute(model, prepared, "occlusion", window=32, stride=16, refine=True,
                        keep_fraction=0.25)
    assert refined.perturbation_passes == 49 + 30 < 169
    np.testing.assert_array_equal(refined.heatmap, result.heatmap)
    # ... and agrees with the full fine map computed by a separate plain run (Pearson r in
    # numpy, not the engine's own figure; measured r = 0.97), which the reported
    # agreement must equal.
    full = attribute(model, prepared, "occlusion", window=32, stride=16)
    assert full.perturbation_passes == 169
    r = float(np.corrcoef(refined.heatmap.ravel().astype(np.float64),
                          full.heatmap.ravel().astype(np.float64))[0, 1])
    assert r >= 0.95
    assert stats["agreement"] == pytest.approx(r, abs=1e-6)
    assert any("coarse-to-fine" in n for n in result.notes)
    assert any("agreement with the full fine map" in n for n in result.notes)
