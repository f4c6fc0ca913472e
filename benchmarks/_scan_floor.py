"""What reading the maps costs at the least: the scan's graph against graphs that only pool.

The scan must output, per channel of every layer, the maximum, its first arg-max and the
mean. Reading a map is the unavoidable part of each: ``floor_variants`` builds, beside the
plain model and the scan's reduced model, the model with one ``GlobalMaxPool`` per scanned
layer (the maximum alone: the least any scan can compute) and with ``GlobalMaxPool`` and
``GlobalAveragePool`` (maximum and mean, no location). Both pools read onnxruntime's
blocked NCHWc layout directly, so these graphs are the floor of an in-graph reduction on
that provider; ``time_round_robin`` runs them in turns so that a shared machine's load
falls on all of them alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper

from engine.session import Session


def pooled_model(model: onnx.ModelProto, tensors: Sequence[str], pools: Sequence[str]
                 ) -> onnx.ModelProto:
    """A copy of ``model`` that also outputs each pool of ``pools`` over each of ``tensors``."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for index, tensor in enumerate(tensors):
        for pool in pools:
            out = f"floor_{pool}_{index}"
            copy.graph.node.append(helper.make_node(pool, [tensor], [out],
                                                    name=f"floor_{pool}_node_{index}"))
            copy.graph.output.append(helper.make_tensor_value_info(out, TensorProto.FLOAT,
                                                                   None))
    return copy


def floor_variants(model: onnx.ModelProto, reduced: onnx.ModelProto, tensors: Sequence[str]
                   ) -> dict[str, onnx.ModelProto]:
    """The plain model, the two pooling floors and the scan's reduced model, by label."""
    return {"plain": model,
            "max only (GlobalMaxPool)": pooled_model(model, tensors, ["GlobalMaxPool"]),
            "max and mean (+ GlobalAveragePool)": pooled_model(
                model, tensors, ["GlobalMaxPool", "GlobalAveragePool"]),
            "scan's reduced graph (max, location, mean)": reduced}


def time_round_robin(sessions: Mapping[str, Session], feed: Mapping[str, np.ndarray],
                     rounds: int, runs: int) -> dict[str, float]:
    """Median images/s of each session over ``rounds`` turns of ``runs`` runs of ``feed``.

    Every output is fetched.
    """
    batch = next(iter(feed.values())).shape[0]
    rates: dict[str, list[float]] = {label: [] for label in sessions}
    for session in sessions.values():
        session.run(dict(feed))  # warm-up
    for _ in range(rounds):
        for label, session in sessions.items():
            start = time.perf_counter()
            for _ in range(runs):
                session.run(dict(feed))
            rates[label].append(runs * batch / (time.perf_counter() - start))
    return {label: float(np.median(values)) for label, values in rates.items()}
