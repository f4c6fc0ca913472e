"""Top-k and running statistics against brute force: exact, tie-aware, mergeable."""

from __future__ import annotations

import numpy as np
import pytest

from engine.scan.topk import RunningStats, TopK, order_scores, scores_from_order


def brute_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, scores) per channel: best score first, ties by the smaller image index."""
    n, channels = scores.shape
    images = np.zeros((channels, k), np.int64)
    best = np.zeros((channels, k), np.float32)
    for c in range(channels):
        ranked = sorted(range(n), key=lambda i: (-float(scores[i, c]), i))[:k]
        images[c] = ranked
        best[c] = scores[ranked, c]
    return images, best


def assert_equals_brute_force(topk: TopK, scores: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                              k: int) -> None:
    """Images, scores and locations of ``topk`` are the brute-force ranking's first ``k``."""
    images, best = brute_topk(scores, k)
    assert np.array_equal(topk.images(), images)
    assert np.array_equal(topk.scores(), best)
    channels = np.arange(scores.shape[1])[:, None]
    assert np.array_equal(topk.y, ys[images, channels])
    assert np.array_equal(topk.x, xs[images, channels])


def test_score_order_is_preserved_by_the_key_mapping() -> None:
    values = np.array([-np.inf, -3.5, -0.0, 0.0, 1e-30, 2.0, 7.5, np.inf], np.float32)
    ordered = order_scores(values)
    assert np.all(np.diff(ordered.astype(np.int64)) >= 0)
    assert np.array_equal(scores_from_order(ordered), values)
    assert order_scores(np.array([np.nan], np.float32))[0] == order_scores(
        np.array([-np.inf], np.float32))[0]


@pytest.mark.parametrize("batch", [1, 3, 7, 50])
def test_streamed_top_k_equals_brute_force_with_ties(batch: int) -> None:
    rng = np.random.default_rng(batch)
    scores = rng.integers(-3, 4, (50, 6)).astype(np.float32)  # many ties
    ys = rng.integers(0, 9, scores.shape).astype(np.int32)
    xs = rng.integers(0, 9, scores.shape).astype(np.int32)
    topk = TopK.empty(6, 5)
    for start in range(0, 50, batch):
        stop = min(50, start + batch)
        topk.add(scores[start:stop], np.arange(start, stop), ys[start:stop], xs[start:stop])
    assert_equals_brute_force(topk, scores, ys, xs, 5)


def test_merging_shards_in_any_order_gives_the_same_top_k() -> None:
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((40, 4)).astype(np.float32)
    scores[::5] = 1.0  # ties across shards
    parts = []
    for start in range(0, 40, 8):
        part = TopK.empty(4, 3)
        part.add(scores[start:start + 8], np.arange(start, start + 8),
                 np.zeros((8, 4), np.int32), np.zeros((8, 4), np.int32))
        parts.append(part)
    forward, backward = TopK.empty(4, 3), TopK.empty(4, 3)
    for part in parts:
        forward.merge(part)
    for part in reversed(parts):
        backward.merge(part)
    assert np.array_equal(forward.keys, backward.keys)
    assert np.array_equal(forward.images(), brute_topk(scores, 3)[0])


@pytest.mark.parametrize("shard", [4, 9, 40])
def test_shards_under_the_running_floor_merge_to_the_brute_force_top_k(shard: int) -> None:
    """Shards that drop candidates at or below the scan's worst kept keys lose nothing.

    Each shard starts from the floor of the merged top-k at the moment it is handed
    out (two shards in flight: the floor lags one shard behind, as in a real scan).
    """
    rng = np.random.default_rng(shard)
    scores = rng.integers(-4, 5, (120, 7)).astype(np.float32)  # many ties on the floor
    ys = rng.integers(0, 9, scores.shape).astype(np.int32)
    xs = rng.integers(0, 9, scores.shape).astype(np.int32)
    merged = TopK.empty(7, 5)
    floors = [merged.worst().copy()]
    dropped = 0
    for start in range(0, 120, shard):
        stop = min(120, start + shard)
        part = TopK.empty(7, 5, floors.pop(0))
        part.add(scores[start:stop], np.arange(start, stop), ys[start:stop], xs[start:stop])
        dropped += int((part.keys == 0).sum())
        floors.append(merged.worst().copy())
        merged.merge(part)
    assert_equals_brute_force(merged, scores, ys, xs, 5)
    assert dropped > 0  # the floors did leave candidates out


def test_fewer_images_than_k_leave_free_slots() -> None:
    topk = TopK.empty(2, 4)
    topk.add(np.array([[1.0, 2.0]], np.float32), np.array([7]), np.zeros((1, 2), np.int32),
             np.zeros((1, 2), np.int32))
    assert topk.images().tolist() == [[7, -1, -1, -1], [7, -1, -1, -1]]
    assert np.isnan(topk.scores()[:, 1:]).all()


def test_running_statistics_match_numpy() -> None:
    rng = np.random.default_rng(1)
    scores = (rng.standard_normal((101, 5)) * 3 + 2).astype(np.float32)
    means = rng.standard_normal((101, 5)).astype(np.float32)
    stats = RunningStats.empty(5)
    for start in range(0, 101, 13):
        part = RunningStats.empty(5)
        for first in range(start, min(101, start + 13), 4):
            stop = min(first + 4, start + 13, 101)
            part.merge(RunningStats.of_batch(scores[first:stop], means[first:stop]))
        stats.merge(part)
    values = scores.astype(np.float64)
    assert stats.count.tolist() == [101] * 5
    np.testing.assert_allclose(stats.mean, values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.variance(), values.var(axis=0), rtol=1e-10)
    np.testing.assert_array_equal(stats.maximum, scores.max(axis=0))
    np.testing.assert_array_equal(stats.fire_fraction(), (scores > 0).mean(axis=0))
    np.testing.assert_allclose(stats.activation, means.astype(np.float64).mean(axis=0),
                               rtol=1e-10, atol=1e-12)
