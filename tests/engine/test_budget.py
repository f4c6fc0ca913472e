"""Memory budgets are decided before allocating, with exact estimates where shapes are known."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import budget
from engine.budget import check_budget, estimate_maps_bytes
from engine.errors import ResourceError
from engine.featuremaps import extract_feature_maps, model_layers
from engine.model_io import load_model
from engine.preprocess import prepare_input


def test_estimate_matches_real_maps(demo_model: Path, chelsea: Path) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    layers = list(model_layers(model))
    estimate = estimate_maps_bytes(model.proto, layers, prepared.feed_dict())
    result = extract_feature_maps(model, prepared)
    actual = sum(m.data.nbytes for m in result.layers)
    assert estimate == actual * budget.COPIES


def test_refused_before_running(demo_model: Path, chelsea: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    monkeypatch.setattr(budget, "available_memory", lambda: 100_000_000)
    monkeypatch.setenv("FEATURESCOPE_MEMORY_SHARE", "0.5")
    with pytest.raises(ResourceError) as err:
        extract_feature_maps(model, prepared)
    assert err.value.message == (
        "Showing 49 layers needs about 81 MB, more than the 50 MB allowed (50% of available "
        "memory); choose fewer layers or a smaller input.")
    one = extract_feature_maps(model, prepared, ["/_conv_stem/Conv"])
    assert len(one.layers) == 1


def test_check_budget_limits() -> None:
    check_budget(10, "x", share=0.5, available=100)
    with pytest.raises(ResourceError, match="more than the 0 MB allowed"):
        check_budget(60, "x", share=0.5, available=100)
