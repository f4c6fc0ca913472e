"""Linear CKA (Kornblith et al., ICML 2019) between layers of two models.

Layers of unrelated models have different channel counts and resolutions, so
each map is first average-pooled onto a fixed grid of cells (adaptive pooling:
cell ``i`` of ``G`` covers ``[floor(i*H/G), ceil((i+1)*H/G))``); the examples
are (input, cell) pairs and the features the channels. With ``X`` (examples x
channels) and ``Y`` centred over the examples,
``CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``, computed here through the
centred Gram matrices ``K = X X^T`` and ``L = Y Y^T`` as
``<K, L>_F / (||K||_F ||L||_F)``.
"""

from __future__ import annotations

import math

import numpy as np

#: Most (input, cell) examples used for CKA; the Gram matrices are examples^2.
MAX_EXAMPLES = 256
#: Largest pooling grid side.
MAX_GRID = 8


def grid_side(inputs: int) -> int:
    """The pooling grid side for ``inputs`` inputs (examples stay <= :data:`MAX_EXAMPLES`)."""
    return max(1, min(MAX_GRID, math.isqrt(MAX_EXAMPLES // max(1, inputs))))


def _pool_axis(array: np.ndarray, axis: int, cells: int) -> np.ndarray:
    """Adaptive average pooling of one axis to ``cells`` bins (bins repeat when it is shorter)."""
    size = array.shape[axis]
    starts = np.array([(i * size) // cells for i in range(cells)])
    ends = np.array([-(-((i + 1) * size) // cells) for i in range(cells)])
    summed = np.cumsum(array, axis=axis, dtype=np.float64)
    pad = [(0, 0)] * array.ndim
    pad[axis] = (1, 0)
    summed = np.pad(summed, pad)
    total = np.take(summed, ends, axis=axis) - np.take(summed, starts, axis=axis)
    shape = [1] * array.ndim
    shape[axis] = cells
    result: np.ndarray = total / (ends - starts).reshape(shape)
    return result


def pooled_features(value: np.ndarray, side: int) -> np.ndarray:
    """Examples x channels features of a batch of maps (N, C, *spatial).

    Two spatial axes are pooled to ``side`` x ``side``; one axis to ``side^2``
    cells; a leading depth axis is averaged first; maps without spatial axes
    repeat their single cell.
    """
    array = np.asarray(value, dtype=np.float64)
    if array.ndim < 2:
        array = array.reshape(1, -1)
    while array.ndim > 4:
        array = array.mean(axis=2)
    n, c = array.shape[:2]
    cells = side * side
    if array.ndim == 4:
        pooled = _pool_axis(_pool_axis(array, 2, side), 3, side).reshape(n, c, cells)
    elif array.ndim == 3:
        pooled = _pool_axis(array, 2, cells)
    else:
        pooled = np.repeat(array[:, :, None], cells, axis=2)
    return np.ascontiguousarray(pooled.transpose(0, 2, 1).reshape(n * cells, c), dtype=np.float32)


def normalized_gram(features: np.ndarray) -> np.ndarray:
    """The centred Gram matrix of examples x features, scaled to unit Frobenius norm.

    A constant layer (zero Gram) gives zeros, so its CKA with anything is 0.
    """
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    gram = x @ x.T
    norm = float(np.linalg.norm(gram))
    return gram / norm if norm > 0 else np.zeros_like(gram)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two examples x features matrices with the same examples."""
    return float(np.sum(normalized_gram(x) * normalized_gram(y)))


def cka_matrix(grams_a: list[np.ndarray], grams_b: list[np.ndarray]) -> np.ndarray:
    """CKA of every A layer with every B layer from their normalised Gram matrices."""
    if not grams_a or not grams_b:
        return np.zeros((len(grams_a), len(grams_b)))
    flat_a = np.stack([g.reshape(-1) for g in grams_a])
    flat_b = np.stack([g.reshape(-1) for g in grams_b])
    values: np.ndarray = np.clip(flat_a @ flat_b.T, 0.0, 1.0)
    return values


def monotone_alignment(similarity: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (i, j), increasing in both, maximising the summed similarity.

    Only entries of at least ``threshold`` can be paired (an order-keeping
    alignment, like a weighted longest common subsequence).
    """
    rows, cols = similarity.shape
    score = np.zeros((rows + 1, cols + 1))
    for i in range(rows - 1, -1, -1):
        for j in range(cols - 1, -1, -1):
            best = max(score[i + 1, j], score[i, j + 1])
            if similarity[i, j] >= threshold:
                best = max(best, similarity[i, j] + score[i + 1, j + 1])
            score[i, j] = best
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < rows and j < cols:
        if similarity[i, j] >= threshold and math.isclose(
                score[i, j], similarity[i, j] + score[i + 1, j + 1]):
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif score[i + 1, j] >= score[i, j + 1]:
            i += 1
        else:
            j += 1
    return pairs
