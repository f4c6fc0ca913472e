"""The maps of one matched pair, for showing A, B and their difference side by side."""

from __future__ import annotations

import numpy as np

from engine.cancellation import CancelToken
from engine.compare.inputs import CompareInputs
from engine.compare.types import PairResult
from engine.featuremaps import extract_feature_maps
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.session import SESSIONS, SessionCache
from engine.types import PreparedInput


def pair_maps(model_a: LoadedModel, model_b: LoadedModel, pair: PairResult,
              inputs: CompareInputs, index: int = 0, preference: ProviderPreference = "auto",
              cancel: CancelToken | None = None, cache: SessionCache = SESSIONS
              ) -> tuple[np.ndarray, np.ndarray]:
    """A's and B's maps of ``pair`` on input ``index`` (first batch item, real values).

    Each model runs with only that layer exposed (``extract_feature_maps``: the
    same optimisation-level check and dequantisation as ``maps``).

    Returns
    -------
    (ndarray, ndarray)
        float32 (C, *spatial) maps of A and of B.
    """
    feeds_a, feeds_b = inputs.feeds(index)
    source = inputs.sources[index]
    maps = []
    for model, feeds, layer in ((model_a, feeds_a, pair.a), (model_b, feeds_b, pair.b)):
        prepared = PreparedInput(feeds=tuple(feeds.items()), display=None, spec=None,
                                 source=source)
        result = extract_feature_maps(model, prepared, [layer], preference, cancel=cancel,
                                      cache=cache)
        maps.append(result.layers[0].data)
    return maps[0], maps[1]
