"""The CKA pass: pool the unmatched layers of both models over the inputs and align them."""

from __future__ import annotations

import numpy as np

from engine.compare.cka import cka_matrix, monotone_alignment, normalized_gram, pooled_features
from engine.compare.codec import CodecTable
from engine.compare.matching import LayerPair
from engine.compare.passes import ExposedRunner, RunContext
from engine.compare.plan import layer_bytes, plan_windows
from engine.compare.types import CkaMatrix
from engine.model_io import LoadedModel
from engine.types import LayerInfo


def _features(context: RunContext, model: LoadedModel, label: str, layers: list[LayerInfo],
              count: int, side: int) -> list[np.ndarray]:
    """Pooled features (examples x channels) of ``layers`` over the first ``count`` inputs."""
    codecs = CodecTable(model.proto)
    feeds_a, feeds_b = context.inputs.feeds(0)
    feeds = feeds_a if label == "A" else feeds_b
    sizes = layer_bytes(model.proto, layers, feeds)
    strategy = plan_windows(sizes, count, context.budget)
    if strategy.name == "layer-windows":
        context.note(f"CKA pass over model {label}: {strategy.reason}")
    context.release_each = not strategy.keep_sessions
    collected: list[list[np.ndarray]] = [[] for _ in layers]
    start = 0
    for size in strategy.windows:
        window = layers[start:start + size]
        runner = ExposedRunner(model, [layer.tensor for layer in window], label,
                               context.preference, context.cache, context.notes)
        for index in range(count):
            context.tick(f"CKA: model {label}, input {index + 1} of {count}")
            feeds_a, feeds_b, reference_a, reference_b = context.references(index)
            feeds, reference = (feeds_a, reference_a) if label == "A" else (feeds_b, reference_b)
            values = runner.run(feeds, reference, context.cancel)
            context.used(runner)
            for offset, layer in enumerate(window):
                real = codecs.codec(layer.tensor).decode(values[layer.tensor])
                collected[start + offset].append(pooled_features(real, side))
            del values
        context.release()
        start += size
    return [np.concatenate(parts) for parts in collected]


def collect_cka(context: RunContext, rest_a: list[LayerInfo], rest_b: list[LayerInfo],
                count: int, side: int, threshold: float) -> tuple[CkaMatrix, list[LayerPair]]:
    """The CKA matrix of the unmatched layers and the order-keeping matches it gives.

    Parameters
    ----------
    context
        The comparison's shared state.
    rest_a, rest_b
        Layers left unmatched by name and position, in topological order.
    count
        Inputs used (the first ``count``).
    side
        Pooling grid side (:func:`engine.compare.cka.grid_side`).
    threshold
        Least CKA of a match.
    """
    grams_a = [normalized_gram(f) for f in _features(context, context.a, "A", rest_a, count, side)]
    grams_b = [normalized_gram(f) for f in _features(context, context.b, "B", rest_b, count, side)]
    values = cka_matrix(grams_a, grams_b)
    pairs = [LayerPair(rest_a[i], rest_b[j], "cka", cka=float(values[i, j]))
             for i, j in monotone_alignment(values, threshold)]
    examples = grams_a[0].shape[0] if grams_a else 0
    matrix = CkaMatrix(a_layers=tuple(layer.name for layer in rest_a),
                       b_layers=tuple(layer.name for layer in rest_b), values=values,
                       examples=examples)
    return matrix, pairs
