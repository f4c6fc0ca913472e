"""Error figures between a reference tensor A and a candidate B, accumulated over inputs.

Every figure is computed from sums kept in float64, so inputs can be streamed
one at a time: the figures over several inputs are those of the inputs'
tensors concatenated (pooled), not an average of per-input figures.

Definitions (``d = B - A``, sums over every element of every input):

- ``max_abs``: ``max |d|``;
- ``rel_l2``: ``sqrt(sum d^2 / sum A^2)``;
- ``cosine``: ``sum A*B / sqrt(sum A^2 * sum B^2)``;
- ``snr_db``: ``10 log10(sum A^2 / sum d^2)`` (infinite when ``d`` is zero);
- per-channel ``rel_l2``: the same per channel (axis 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.compare.types import OutputAgreement, OutputResult


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return 0.0 if numerator == 0 else math.inf


#: Elements converted to float64 at once (cache-sized chunks are several times faster).
_CHUNK = 1 << 15


def _items(array: np.ndarray) -> list[np.ndarray]:
    """Each batch item of ``array`` as (channels, everything else), channels on axis 1."""
    if array.ndim < 2:
        return [array.reshape(1, -1)]
    if array.ndim == 2:
        return [array.T]
    return [item.reshape(item.shape[0], -1) for item in array]


def channel_sums(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-channel sums of A^2, B^2, A*B and (B-A)^2 (rows of a (4, C) float64 array)
    and the largest ``|B - A|``, computed in float64 one cache-sized chunk at a time."""
    items_a, items_b = _items(a), _items(b)
    channels = items_a[0].shape[0]
    sums = np.zeros((4, channels))
    largest = 0.0
    for item_a, item_b in zip(items_a, items_b, strict=True):
        rows = max(1, _CHUNK // max(1, item_a.shape[1]))
        for start in range(0, channels, rows):
            x = item_a[start:start + rows].astype(np.float64)
            y = item_b[start:start + rows].astype(np.float64)
            d = y - x
            block = sums[:, start:start + rows]
            block[0] += np.einsum("ij,ij->i", x, x)
            block[1] += np.einsum("ij,ij->i", y, y)
            block[2] += np.einsum("ij,ij->i", x, y)
            block[3] += np.einsum("ij,ij->i", d, d)
            if d.size:
                largest = max(largest, float(np.max(np.abs(d))))
    return sums, largest


@dataclass
class ErrorSums:
    """Running sums of one comparison (see the module docstring for the figures)."""

    count: int = 0
    sum_a2: float = 0.0
    sum_b2: float = 0.0
    sum_ab: float = 0.0
    sum_d2: float = 0.0
    max_abs: float = 0.0
    channel_a2: np.ndarray | None = None
    channel_d2: np.ndarray | None = None

    def add(self, a: np.ndarray, b: np.ndarray, per_channel: bool = True) -> None:
        """Add one input's tensors (same shape, real values, channels on axis 1).

        Raises
        ------
        ValueError
            The shapes differ.
        """
        if a.shape != b.shape:
            raise ValueError(f"shapes differ: {list(a.shape)} and {list(b.shape)}")
        sums, largest = channel_sums(np.asarray(a), np.asarray(b))
        self.count += int(np.asarray(a).size)
        totals = sums.sum(axis=1)
        self.sum_a2 += float(totals[0])
        self.sum_b2 += float(totals[1])
        self.sum_ab += float(totals[2])
        self.sum_d2 += float(totals[3])
        self.max_abs = max(self.max_abs, largest)
        if per_channel:
            if self.channel_a2 is None or self.channel_d2 is None:
                self.channel_a2, self.channel_d2 = sums[0].copy(), sums[3].copy()
            else:
                self.channel_a2 = self.channel_a2 + sums[0]
                self.channel_d2 = self.channel_d2 + sums[3]

    @property
    def rel_l2(self) -> float:
        """Relative L2 error ``||B - A|| / ||A||``."""
        return math.sqrt(_ratio(self.sum_d2, self.sum_a2))

    @property
    def cosine(self) -> float:
        """Cosine similarity of A and B (1 when both are zero)."""
        norm = math.sqrt(self.sum_a2 * self.sum_b2)
        if norm == 0:
            return 1.0 if self.sum_a2 == self.sum_b2 else 0.0
        return max(-1.0, min(1.0, self.sum_ab / norm))

    @property
    def snr_db(self) -> float:
        """Signal-to-noise ratio in dB (infinite for identical tensors)."""
        if self.sum_d2 == 0:
            return math.inf
        if self.sum_a2 == 0:
            return -math.inf
        return 10.0 * math.log10(self.sum_a2 / self.sum_d2)

    def per_channel(self) -> np.ndarray:
        """Relative L2 error of each channel (empty when not accumulated)."""
        if self.channel_a2 is None or self.channel_d2 is None:
            return np.zeros(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.channel_a2 > 0, self.channel_d2 / self.channel_a2,
                             np.where(self.channel_d2 > 0, np.inf, 0.0))
        return np.sqrt(ratio)


def is_classifier_output(shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """Whether an output looks like class scores: float, (batch, classes) with classes > 1."""
    return np.dtype(dtype).kind == "f" and len(shape) == 2 and shape[1] > 1


class OutputSums:
    """Running agreement of the models' outputs, matched by name, else by position."""

    def __init__(self) -> None:
        self._pairs: list[tuple[str, str]] | None = None
        self._sums: dict[str, ErrorSums] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._classifier: dict[str, bool] = {}
        self._agree: dict[str, int] = {}
        self._seen: dict[str, int] = {}
        self.unmatched: list[str] = []

    def _match(self, a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[tuple[str, str]]:
        pairs = [(name, name) for name in a if name in b]
        if len(pairs) < len(a):
            rest_a = [n for n in a if n not in b]
            rest_b = [n for n in b if n not in a]
            for name_a, name_b in zip(rest_a, rest_b, strict=False):
                if np.shape(a[name_a]) == np.shape(b[name_b]):
                    pairs.append((name_a, name_b))
            matched = {p[0] for p in pairs}
            self.unmatched = [n for n in a if n not in matched]
        return pairs

    def add(self, a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
        """Add one input's outputs of both models."""
        if self._pairs is None:
            self._pairs = self._match(a, b)
        for name_a, name_b in self._pairs:
            if name_a not in a or name_b not in b:
                continue
            va, vb = np.asarray(a[name_a]), np.asarray(b[name_b])
            if va.dtype.kind not in "fiub" or va.shape != vb.shape:
                continue
            self._shapes[name_a] = tuple(int(d) for d in va.shape)
            sums = self._sums.setdefault(name_a, ErrorSums())
            sums.add(va.astype(np.float64), vb.astype(np.float64), per_channel=False)
            if is_classifier_output(va.shape, va.dtype):
                self._classifier[name_a] = True
                same = np.argmax(va, axis=1) == np.argmax(vb, axis=1)
                self._agree[name_a] = self._agree.get(name_a, 0) + int(np.count_nonzero(same))
                self._seen[name_a] = self._seen.get(name_a, 0) + int(same.size)

    def result(self) -> OutputAgreement:
        """The agreement figures of every matched output."""
        results: list[OutputResult] = []
        for name_a, name_b in self._pairs or []:
            sums = self._sums.get(name_a)
            if sums is None:
                continue
            classifier = self._classifier.get(name_a, False)
            top1 = (self._agree[name_a] / self._seen[name_a]
                    if classifier and self._seen.get(name_a) else None)
            results.append(OutputResult(
                a=name_a, b=name_b, shape=self._shapes[name_a], max_abs=sums.max_abs,
                rel_l2=sums.rel_l2, classifier=classifier, top1_agreement=top1))
        tops = [r.top1_agreement for r in results if r.top1_agreement is not None]
        diffs = [r.max_abs for r in results if r.max_abs is not None]
        return OutputAgreement(outputs=tuple(results), top1_agreement=min(tops) if tops else None,
                               max_abs=max(diffs) if diffs else None)
