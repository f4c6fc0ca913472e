"""Targets (numpy and ONNX agree), cancellation, progress and out-of-memory back-off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.attribution.runner import run_batches
from engine.attribution.targets import append_score_nodes, resolve_target
from engine.attribution.types import Target
from engine.cancellation import CancelToken
from engine.errors import Cancelled, InputError, ResourceError
from engine.graph.nodes import NodeBuilder
from engine.session import create_session
from engine.types import Progress
from tests import models
from tests.engine.attribution._helpers import attribute, npy_input, save_and_load


def _score_graph(shape: list[int], target) -> onnx.ModelProto:  # type: ignore[no-untyped-def]
    builder = NodeBuilder(17, {"y"})
    score, _ = append_score_nodes(builder, "y", TensorProto.FLOAT, target)
    builder.op("Identity", [score], output="score")
    graph = helper.make_graph(builder.nodes, "g",
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("score", TensorProto.FLOAT, None)],
                              initializer=builder.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize(("shape", "target", "softmax"), [
    ([3, 5], Target(), True),
    ([3, 5], Target(kind="class", index=4, score="logit"), False),
    ([3, 2, 4, 6], Target(kind="element", coords=(1, 2, 3)), False),
    ([3, 2, 4, 6], Target(kind="region", index=1, box=(1, 2, 3, 5)), False),
    ([3, 1], Target(), False),
])
def test_numpy_and_onnx_scores_agree(shape: list[int], target: Target, softmax: bool) -> None:
    value = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    resolved = resolve_target(target, {"y": value[:1]}, ("y",))
    assert resolved.softmax == softmax
    expected = resolved.score(value)
    got = create_session(_score_graph(shape, resolved), "cpu").run({"y": value})["score"]
    np.testing.assert_allclose(got.reshape(-1), expected, rtol=1e-5, atol=1e-6)


def test_probabilities_are_not_softmaxed_twice() -> None:
    probs = np.array([[0.1, 0.7, 0.2]], np.float32)
    resolved = resolve_target(Target(), {"p": probs}, ("p",))
    assert resolved.index == 1 and not resolved.softmax
    assert resolved.score(probs)[0] == pytest.approx(0.7)


def test_bad_targets_are_refused_with_a_sentence() -> None:
    value = {"y": np.zeros((1, 5), np.float32), "m": np.zeros((1, 2, 4, 4), np.float32)}
    for target in (Target(kind="class", index=9), Target(output="nope"),
                   Target(kind="class", output="m"), Target(kind="region", output="m",
                                                            box=(0, 0, 9, 9))):
        with pytest.raises(InputError):
            resolve_target(target, value, ("y", "m"))


def test_cancel_is_prompt_and_the_session_stays_usable(tmp_path: Path) -> None:
    model = save_and_load(models.cnn2d(), tmp_path, "cnn2d")
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    token = CancelToken()
    seen: list[Progress] = []

    def progress(report: Progress) -> None:
        seen.append(report)
        if report.done >= 8:
            token.cancel()

    from engine.attribution.registry import run_attribution
    from engine.attribution.types import AttributionRequest

    request = AttributionRequest("occlusion", params=(("window", 2), ("stride", 1)),
                                 batch_size=4)
    with pytest.raises(Cancelled):
        run_attribution(model, prepared, request, "cpu", progress=progress, cancel=token)
    assert seen[-1].done == 8 and seen[-1].total == 31 * 31
    result = attribute(model, prepared, "occlusion", window=8, stride=8)
    assert result.perturbation_passes == 16


def test_out_of_memory_halves_the_batch_and_pads_constant_shapes() -> None:
    sizes: list[int] = []

    def run(indices: np.ndarray) -> dict[str, np.ndarray]:
        sizes.append(len(indices))
        if len(indices) > 4:
            raise ResourceError("The model ran out of memory.")
        return {"v": indices.astype(np.float64) * 2}

    out, size, notes = run_batches(14, 16, run, lambda p: None, CancelToken())
    assert size == 3 and len(notes) == 2
    np.testing.assert_array_equal(out["v"], np.arange(14) * 2.0)
    assert sizes == [14, 7, 3, 3, 3, 3, 3]  # halved twice, then constant (padded) batches


def test_last_batch_is_padded_to_the_batch_size() -> None:
    sizes: list[int] = []

    def run(indices: np.ndarray) -> dict[str, np.ndarray]:
        sizes.append(len(indices))
        return {"v": indices.astype(np.float64)}

    out, _, _ = run_batches(10, 4, run, lambda p: None, CancelToken())
    assert sizes == [4, 4, 4]
    np.testing.assert_array_equal(out["v"], np.arange(10))
