"""The independent reference of the scan tests: numpy over ``extract_feature_maps``.

``extract_feature_maps`` runs the exposed graph (no in-graph reduction); numpy then
takes each channel's maximum and first row-major arg-max, and ranks images by
(-score, image index), as a scan must.
"""

from __future__ import annotations

import numpy as np

from engine.featuremaps import extract_feature_maps
from engine.model_io import LoadedModel
from engine.preprocess import prepare_input
from engine.scan import ScanStore, read_examples
from engine.scan.records import ScanLayer
from engine.types import InputSpec


def brute_force_peaks(model: LoadedModel, paths: list[str], spec: InputSpec | None
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per layer name: (images, channels) maxima and flat first arg-maxima."""
    maxima: dict[str, list[np.ndarray]] = {}
    argmax: dict[str, list[np.ndarray]] = {}
    for path in paths:
        maps = extract_feature_maps(model, prepare_input(model.info, path, spec))
        for layer in maps.layers:
            flat = layer.data.reshape(layer.data.shape[0], -1)
            maxima.setdefault(layer.layer.name, []).append(flat.max(axis=1))
            argmax.setdefault(layer.layer.name, []).append(flat.argmax(axis=1))
    return ({name: np.stack(v) for name, v in maxima.items()},
            {name: np.stack(v) for name, v in argmax.items()})


def assert_top_k_equal(store: ScanStore, layer: ScanLayer, scores: np.ndarray,
                       first: np.ndarray, k: int) -> None:
    """Every channel's kept examples are the brute-force ranking's first ``k``."""
    for channel in range(layer.channels):
        examples = read_examples(store, layer.name, channel)
        ranked = sorted(range(scores.shape[0]), key=lambda i: (-scores[i, channel], i))[:k]
        assert [e.image for e in examples] == ranked, (layer.name, channel)
        assert [e.score for e in examples] == scores[ranked, channel].tolist()
        assert [e.y * layer.width + e.x for e in examples] == \
            first[ranked, channel].tolist(), (layer.name, channel)
        for example in examples:
            x0, y0, x1, y1 = example.box
            assert 0 <= x0 < x1 and 0 <= y0 < y1
