"""The compare view: error against depth, first divergence, A / B / B − A mosaics, sorting."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from app.views.compare_view import ERROR_FLOOR, SORT_KEYS, CompareView, log_errors
from engine.compare import ComparisonResult, compare_models, inputs_from_paths, pair_maps
from engine.model_io import load_model
from tests.app.conftest import DEMO_IMAGE, DEMO_MODEL
from tests.engine.compare._faults import plant_fault


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[ComparisonResult, np.ndarray, np.ndarray, str]:
    """The demo against a copy with one conv's weights scaled, and the faulty pair's maps."""
    path = tmp_path_factory.mktemp("compare_view") / "broken.onnx"
    layer = plant_fault(DEMO_MODEL, Path(path), "weights").name
    a, b = load_model(DEMO_MODEL), load_model(path)
    inputs = inputs_from_paths(a, b, [DEMO_IMAGE])
    result = compare_models(a, b, inputs, preference="cpu")
    index = result.first_divergence
    assert index is not None
    maps_a, maps_b = pair_maps(a, b, result.pairs[index], inputs, preference="cpu")
    return result, maps_a, maps_b, layer


def test_chart_shows_both_errors_and_marks_the_first_divergence(qtbot, comparison) -> None:
    result, _a, _b, layer = comparison
    view = CompareView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.pairSelected) as selected:
        view.set_result(result)
    index = result.first_divergence
    assert selected.args == [index] and view.selected == index
    assert result.pairs[index].a == layer  # type: ignore[index]
    x, y = view.accumulated.getData()
    assert len(x) == len(result.pairs) == view.pairs.count()
    upstream = y[:index]
    assert np.all(upstream == math.log10(ERROR_FLOOR))  # zero error, drawn at the floor
    assert view.divergence.isVisible() and view.divergence.value() == index
    assert view.threshold.value() == pytest.approx(-3.0)
    assert layer in view.summary.text() and "First divergence" in view.summary.text()
    _x, local = view.local.getData()
    assert local[index] == pytest.approx(math.log10(result.pairs[index].local_rel_l2))  # type: ignore[index, arg-type]


def test_selected_pair_shows_a_b_and_their_difference_sorted_by_error(qtbot,
                                                                       comparison) -> None:
    result, maps_a, maps_b, _layer = comparison
    view = CompareView()
    qtbot.addWidget(view)
    view.set_result(result)
    index = view.selected
    assert index is not None
    view.show_pair_maps(index + 1, maps_a, maps_b)  # a late answer for another pair
    assert all(image.image is None for image in view.images)
    view.show_pair_maps(index, maps_a, maps_b)
    shapes = {image.image.shape for image in view.images}
    assert len(shapes) == 1
    difference = view.images[2].image
    assert np.nanmin(difference) >= 0.0 and np.nanmax(difference) <= 1.0
    np.testing.assert_array_equal(view.order, np.arange(len(maps_a)))
    view.sort.setCurrentText(SORT_KEYS[1])
    errors = result.pairs[index].per_channel_rel_l2
    assert view.order[0] == int(np.nanargmax(errors))
    heights = view.bars.opts["height"]
    assert np.all(np.diff(heights) <= 0)  # largest first


def test_selecting_from_the_combo_and_the_chart(qtbot, comparison) -> None:
    result, _a, _b, _layer = comparison
    view = CompareView()
    qtbot.addWidget(view)
    view.set_result(result)
    with qtbot.waitSignal(view.pairSelected) as selected:
        view.pairs.setCurrentIndex(3)
    assert selected.args == [3] and view.selection_line.value() == 3
    assert all(image.image is None for image in view.images)  # maps of pair 3 not there yet
    point = view.points.points()[7]
    with qtbot.waitSignal(view.pairSelected) as clicked:
        view.points.sigClicked.emit(view.points, [point], None)
    assert clicked.args == [7] and view.pairs.currentIndex() == 7


def test_log_errors_floor_and_missing_values() -> None:
    values = log_errors([0.0, 1e-3, None, math.inf])
    assert values[0] == math.log10(ERROR_FLOOR) and values[1] == pytest.approx(-3.0)
    assert math.isnan(values[2]) and values[3] == 3.0
