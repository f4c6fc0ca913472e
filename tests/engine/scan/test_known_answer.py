"""Known answers: channels that detect a red square and a vertical edge find exactly them.

The detector model (see ``_scan_data``) is scanned once per session; the results
are checked against the generated ground truth and against a brute-force numpy
computation from ``extract_feature_maps`` over the same images.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from engine.featuremaps import extract_feature_maps
from engine.input_proposal import propose_input_spec
from engine.model_io import load_model
from engine.preprocess import prepare_input
from engine.scan import (
    ScanStore,
    channel_statistics,
    content_digest,
    read_examples,
    run_scan,
)
from engine.scan.sources import collect_paths
from engine.scan.store import vector_path
from tests.engine.scan._scan_data import EDGES, RED, SQUARE
from tests.engine.scan.conftest import BROKEN, Detector

K = 4


@pytest.fixture(scope="module")
def store(detector: Detector):
    opened = ScanStore.open(detector.out)
    yield opened
    opened.close()


def names(examples) -> list[str]:
    return [Path(e.path).name for e in examples]


def test_red_channel_finds_the_reddest_squares_at_their_corner(store) -> None:
    examples = read_examples(store, "color", 0)
    expected = sorted(RED, key=lambda r: -r.red)[:K]
    assert names(examples) == [r.name for r in expected]
    assert [(e.y, e.x) for e in examples] == [(r.y, r.x) for r in expected]
    assert [e.score for e in examples] == [float(r.red) for r in expected]
    for example, red in zip(examples, expected, strict=True):
        assert example.box == (red.x, red.y, red.x + 1, red.y + 1)  # 1x1 receptive field


def test_edge_channel_finds_the_strongest_edges_at_their_column(store) -> None:
    examples = read_examples(store, "edge", 0)
    expected = sorted(EDGES, key=lambda e: -e.bright)[:K]
    assert names(examples) == [e.name for e in expected]
    # Valid 3x3 conv: map column j sees input columns j..j+2; the first maximum is
    # the window whose right column is the step (row 0: every row ties).
    assert [(e.y, e.x) for e in examples] == [(0, e.column - 2) for e in expected]
    assert [e.score for e in examples] == pytest.approx([e.score for e in expected], rel=1e-6)
    # the receptive field of a valid 3x3 conv: exactly the 3 columns it reads
    assert [e.box for e in examples] == [(e.column - 2, 0, e.column + 1, 3) for e in expected]


def test_strided_layer_locates_the_first_full_window_and_boxes_it(store) -> None:
    examples = read_examples(store, "pool", 0)
    expected = sorted(RED, key=lambda r: -r.red)[:K]
    assert names(examples) == [r.name for r in expected]
    for example, red in zip(examples, expected, strict=True):
        # stride 2, pad 1: map row i sees input rows 2i-1..2i+1, all inside the square
        assert (example.y, example.x) == (math.ceil((red.y + 1) / 2), math.ceil((red.x + 1) / 2))
        assert example.score == 9.0 * red.red
        # the window it reads, rows and columns 2i-1 .. 2i+1, inside the square
        y, x = example.y, example.x
        assert example.box == (2 * x - 1, 2 * y - 1, 2 * x + 2, 2 * y + 2)
        assert red.x <= 2 * x - 1 and 2 * x + 2 <= red.x + SQUARE


def test_a_dead_channel_ties_everywhere_and_ties_go_by_path(store, detector: Detector) -> None:
    readable = [p for p in collect_paths([str(detector.images)]) if not p.endswith(BROKEN)]
    examples = read_examples(store, "color", 2)
    assert [e.path for e in examples] == readable[:K]
    assert {(e.score, e.y, e.x) for e in examples} == {(0.0, 0, 0)}
    stats = channel_statistics(store, "color")
    assert stats.fire_fraction[2] == 0.0 and stats.maximum[2] == 0.0
    assert stats.order("max")[0] == 0  # the red channel has the largest maximum


def test_unreadable_images_are_listed_with_their_reason(detector: Detector, store) -> None:
    summary = detector.summary
    assert summary.images == len(RED) + len(EDGES) + 3 + 1
    assert summary.readable == summary.images - 1
    (path, reason), = summary.unreadable
    assert Path(path).name == BROKEN
    assert "\n" not in reason and reason.endswith(".")
    assert store.unreadable() == [(path, reason)]
    assert store.complete


def brute_force(detector: Detector) -> dict[str, dict[str, np.ndarray]]:
    """Per layer: per-image (max, flat arg-max, mean) per channel from the maps."""
    model = load_model(detector.model)
    spec = propose_input_spec(model).spec
    found: dict[str, dict[str, list[np.ndarray]]] = {}
    for path in collect_paths([str(detector.images)]):
        if path.endswith(BROKEN):
            continue
        maps = extract_feature_maps(model, prepare_input(model.info, path, spec))
        for layer in maps.layers:
            flat = layer.data.reshape(layer.data.shape[0], -1)
            entry = found.setdefault(layer.layer.name, {"max": [], "arg": [], "mean": []})
            entry["max"].append(flat.max(axis=1))
            entry["arg"].append(flat.argmax(axis=1))
            entry["mean"].append(flat.mean(axis=1))
    return {name: {k: np.stack(v) for k, v in entry.items()} for name, entry in found.items()}


def test_top_k_statistics_and_vectors_equal_a_brute_force_computation(
        detector: Detector, store) -> None:
    reference = brute_force(detector)
    paths = collect_paths([str(detector.images)])
    readable = np.array([i for i, p in enumerate(paths) if not p.endswith(BROKEN)])
    for layer in store.layers:
        ref = reference[layer.name]
        for channel in range(layer.channels):
            ranked = sorted(range(len(readable)), key=lambda i: (-ref["max"][i, channel], i))[:K]
            examples = read_examples(store, layer.name, channel)
            assert [e.image for e in examples] == readable[ranked].tolist()
            assert [e.score for e in examples] == ref["max"][ranked, channel].tolist()
            assert [e.y * layer.width + e.x for e in examples] == \
                ref["arg"][ranked, channel].tolist()
        stats = channel_statistics(store, layer.name)
        scores = ref["max"].astype(np.float64)
        np.testing.assert_array_equal(stats.count, len(readable))
        np.testing.assert_allclose(stats.mean, scores.mean(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(stats.variance, scores.var(axis=0), rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(stats.maximum, ref["max"].max(axis=0))
        np.testing.assert_array_equal(stats.fire_fraction, (ref["max"] > 0).mean(axis=0))
        np.testing.assert_allclose(stats.activation, ref["mean"].mean(axis=0), rtol=1e-5,
                                   atol=1e-6)
        maxima = np.load(vector_path(detector.out, layer.index, "max"))
        means = np.load(vector_path(detector.out, layer.index, "mean"))
        assert maxima.dtype == np.float16 and maxima.shape == (len(paths), layer.channels)
        np.testing.assert_array_equal(maxima[readable], ref["max"].astype(np.float16))
        np.testing.assert_allclose(means[readable].astype(np.float32), ref["mean"],
                                   rtol=2e-3, atol=1e-3)
        unreadable = [i for i, p in enumerate(paths) if p.endswith(BROKEN)]
        assert np.isnan(maxima[unreadable]).all()


def test_listing_order_does_not_change_the_paths(detector: Detector, tmp_path: Path) -> None:
    from_folder = collect_paths([str(detector.images)])
    listing = tmp_path / "list.txt"
    shuffled = list(reversed(from_folder))
    listing.write_text("# images\n" + "\n".join(shuffled) + "\n\n")
    pattern = str(detector.images / "*.png")
    assert collect_paths([str(listing)]) == from_folder
    assert collect_paths([pattern]) == from_folder
    assert collect_paths([pattern, str(detector.images)]) == from_folder


def test_running_the_finished_scan_again_changes_nothing(detector: Detector) -> None:
    before = content_digest(detector.out)
    summary = run_scan(detector.request(detector.out))
    assert summary.resumed_shards == summary.shards
    assert content_digest(detector.out) == before
