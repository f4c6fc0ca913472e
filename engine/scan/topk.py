"""Vectorised, mergeable per-channel top-k and running statistics.

Top-k: every (image, channel) candidate is one ``uint64`` key whose high 32
bits order the float32 score and whose low 32 bits hold the complement of the
image index, so sorting keys in descending order sorts by score, best first,
ties broken by the smaller image index (the paths are sorted, so: by path).
Merging two top-k sets is a partition of their keys: exact, associative and
commutative, so shards can be merged in any order and give the same result.

Statistics per channel follow Chan et al.'s pairwise update (count, mean, M2),
merged in shard order so floating-point results do not depend on how many
workers computed the shards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SIGN = np.uint32(0x80000000)
_LOW = np.uint64(0xFFFFFFFF)
#: The key of an empty slot: below every real candidate.
EMPTY = np.uint64(0)
#: The most images one scan can index (the low 32 bits of a key).
MAX_IMAGES = 2**32 - 1


def order_scores(scores: np.ndarray) -> np.ndarray:
    """Map float32 scores to uint32 values with the same order (NaN as -inf)."""
    values = np.where(np.isnan(scores), np.float32(-np.inf), scores).astype(np.float32)
    bits = values.view(np.uint32)
    negative = (bits & _SIGN) != 0
    ordered: np.ndarray = np.where(negative, ~bits, bits | _SIGN)
    return ordered


def scores_from_order(ordered: np.ndarray) -> np.ndarray:
    """The float32 scores of :func:`order_scores` values."""
    ordered = ordered.astype(np.uint32)
    positive = (ordered & _SIGN) != 0
    bits = np.where(positive, ordered & ~_SIGN, ~ordered).astype(np.uint32)
    scores: np.ndarray = bits.view(np.float32)
    return scores


def make_keys(scores: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Keys of candidates: ``scores`` (C, n) float32 of the images ``images`` (n,)."""
    high = order_scores(scores).astype(np.uint64) << np.uint64(32)
    low = _LOW - np.asarray(images, dtype=np.uint64)
    keys: np.ndarray = high | low[None, :]
    return keys


def _pack(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Non-negative int32 locations as one int64 each: y in the high half."""
    packed: np.ndarray = (y.astype(np.int64) << 32) | x.astype(np.int64)
    return packed


@dataclass
class TopK:
    """The k best (image, location) of every channel of one layer.

    ``keys`` (C, k) is sorted in descending order (best first, :data:`EMPTY`
    for free slots); ``y`` and ``x`` (C, k) int32 are the arg-max locations.
    """

    keys: np.ndarray
    y: np.ndarray
    x: np.ndarray
    floor: np.ndarray | None = None

    @classmethod
    def empty(cls, channels: int, k: int, floor: np.ndarray | None = None) -> TopK:
        """No candidates yet.

        ``floor`` (C,) holds keys that candidates must beat to be kept: the
        worst kept keys of a top-k this one will be merged into (see
        :meth:`worst`). A candidate at or below them can never reach the merged
        top-k, so leaving it out changes nothing there and saves the work.
        """
        return cls(np.zeros((channels, k), np.uint64), np.zeros((channels, k), np.int32),
                   np.zeros((channels, k), np.int32),
                   None if floor is None else np.asarray(floor, np.uint64).copy())

    def rows(self, start: int, stop: int) -> TopK:
        """A copy of channels ``start:stop`` (e.g. one layer of several side by side)."""
        return TopK(self.keys[start:stop].copy(), self.y[start:stop].copy(),
                    self.x[start:stop].copy(),
                    None if self.floor is None else self.floor[start:stop].copy())

    @property
    def k(self) -> int:
        """How many examples are kept per channel."""
        return int(self.keys.shape[1])

    def worst(self) -> np.ndarray:
        """(C,) the key a candidate must beat to enter: the worst kept key or the floor."""
        last = self.keys[:, -1]
        return last if self.floor is None else np.maximum(last, self.floor)

    def add(self, scores: np.ndarray, images: np.ndarray, y: np.ndarray, x: np.ndarray) -> None:
        """Offer a batch: ``scores``, ``y``, ``x`` (n, C) for image indices ``images`` (n,)."""
        if len(images) == 0:
            return
        # A channel can only change where some score reaches the score of the key to
        # beat (ties may still win on the image index); the others are never keyed.
        worst = self.worst()
        floor = np.where(worst == EMPTY, np.float32(-np.inf),
                         scores_from_order((worst >> np.uint64(32)).astype(np.uint32)))
        rows = np.flatnonzero((np.nan_to_num(scores, nan=-np.inf) >= floor).any(axis=0))
        if rows.size == 0:
            return
        keys = np.zeros((self.keys.shape[0], len(images)), np.uint64)
        candidates = make_keys(np.ascontiguousarray(scores[:, rows].T), images)
        keys[rows] = np.where(candidates > worst[rows, None], candidates, EMPTY)
        self._merge(keys, np.ascontiguousarray(y.T, np.int32), np.ascontiguousarray(x.T, np.int32))

    def merge(self, other: TopK) -> None:
        """Merge another top-k of the same layer (e.g. from another shard)."""
        self._merge(other.keys, other.y, other.x)

    def _merge(self, keys: np.ndarray, y: np.ndarray, x: np.ndarray) -> None:
        # Only channels where some candidate beats the worst kept key can change.
        rows = np.flatnonzero(keys.max(axis=1) > self.keys[:, -1])
        if rows.size == 0:
            return
        k = self.k
        all_keys = np.concatenate([self.keys[rows], keys[rows]], axis=1)
        # Locations travel as one int64 (y in the high half), gathered once.
        places = np.concatenate([_pack(self.y[rows], self.x[rows]), _pack(y[rows], x[rows])],
                                axis=1)
        width = all_keys.shape[1]
        # Real keys are unique (only free slots share EMPTY, and their order is moot), so
        # sorting ~key ascending gives the one descending order of keys.
        chosen = np.argsort(~all_keys, axis=1)[:, :k]
        chosen += (np.arange(rows.size) * width)[:, None]
        kept = all_keys.ravel()[chosen]
        # Free slots hold no location, whatever was offered.
        place = np.where(kept == EMPTY, 0, places.ravel()[chosen])
        self.keys[rows] = kept
        self.y[rows] = (place >> 32).astype(np.int32)
        self.x[rows] = (place & 0xFFFFFFFF).astype(np.int32)

    def scores(self) -> np.ndarray:
        """(C, k) float32 scores (NaN in free slots)."""
        scores = scores_from_order((self.keys >> np.uint64(32)).astype(np.uint32))
        return np.where(self.keys == EMPTY, np.float32(np.nan), scores)

    def images(self) -> np.ndarray:
        """(C, k) int64 image indices (-1 in free slots)."""
        images = (_LOW - (self.keys & _LOW)).astype(np.int64)
        return np.where(self.keys == EMPTY, -1, images)


@dataclass
class RunningStats:
    """Per-channel statistics of the per-image scores of one layer.

    ``count``, ``mean``, ``m2`` (sum of squared deviations) and ``maximum`` of
    the scores, ``fires`` (images whose score is above 0) and ``activation``
    (the mean over images of each image's spatial mean).
    """

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    maximum: np.ndarray
    fires: np.ndarray
    activation: np.ndarray

    @classmethod
    def empty(cls, channels: int) -> RunningStats:
        """No images yet."""
        zeros = np.zeros(channels, np.float64)
        return cls(np.zeros(channels, np.int64), zeros.copy(), zeros.copy(),
                   np.full(channels, -np.inf, np.float32), np.zeros(channels, np.int64),
                   zeros.copy())

    @classmethod
    def of_batch(cls, scores: np.ndarray, means: np.ndarray) -> RunningStats:
        """Statistics of one batch: ``scores`` and spatial ``means`` (n, C)."""
        n = scores.shape[0]
        values = scores.astype(np.float64)
        mean = values.mean(axis=0) if n else np.zeros(scores.shape[1])
        return cls(np.full(scores.shape[1], n, np.int64), mean,
                   ((values - mean) ** 2).sum(axis=0),
                   scores.max(axis=0) if n else np.full(scores.shape[1], -np.inf, np.float32),
                   (scores > 0).sum(axis=0).astype(np.int64),
                   means.astype(np.float64).mean(axis=0) if n else np.zeros(scores.shape[1]))

    def rows(self, start: int, stop: int) -> RunningStats:
        """A copy of channels ``start:stop`` (e.g. one layer of several side by side)."""
        return RunningStats(*(getattr(self, name)[start:stop].copy() for name in (
            "count", "mean", "m2", "maximum", "fires", "activation")))

    def merge(self, other: RunningStats) -> None:
        """Chan's pairwise update with ``other`` (in place)."""
        n_a, n_b = self.count.astype(np.float64), other.count.astype(np.float64)
        total = n_a + n_b
        safe = np.where(total > 0, total, 1.0)
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (n_b / safe)
        self.m2 = self.m2 + other.m2 + delta * delta * (n_a * n_b / safe)
        self.activation = self.activation + (other.activation - self.activation) * (n_b / safe)
        self.count = self.count + other.count
        self.maximum = np.maximum(self.maximum, other.maximum)
        self.fires = self.fires + other.fires

    def variance(self) -> np.ndarray:
        """Population variance of the scores (0 before two images)."""
        return np.where(self.count > 1, self.m2 / np.maximum(self.count, 1), 0.0)

    def fire_fraction(self) -> np.ndarray:
        """Fraction of images whose score is above 0."""
        fraction: np.ndarray = self.fires / np.maximum(self.count, 1)
        return fraction
