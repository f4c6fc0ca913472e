"""Checks that the tiny hand-made models behave as their docstrings promise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests import models
from tests.models import BATCH_ONE_ONLY, NOT_RUNNABLE, TINY_MODELS, example_feeds

RUNNABLE = sorted(set(TINY_MODELS) - NOT_RUNNABLE)


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_builders_are_deterministic() -> None:
    for name, build in TINY_MODELS.items():
        assert build().SerializeToString() == build().SerializeToString(), name


@pytest.mark.parametrize("name", RUNNABLE)
def test_runnable_models_check_and_run(tiny_model: Callable[[str], Path], name: str) -> None:
    path = tiny_model(name)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    session = _session(path)
    for batch in (1, 2):
        feeds = example_feeds(model, batch=batch)
        if name in BATCH_ONE_ONLY and batch == 2:
            with pytest.raises(Exception, match=r"Gemm|Reshape|[Dd]imension"):
                session.run(None, feeds)
            continue
        (out, *_) = session.run(None, feeds)
        assert out.shape[0] == batch and np.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(NOT_RUNNABLE))
def test_unrunnable_models_are_refused(tiny_model: Callable[[str], Path], name: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime raises its own Fail
        _session(tiny_model(name))


def _conv_names(graph: onnx.GraphProto) -> list[str]:
    names = []
    for node in graph.node:
        if node.op_type in ("Conv", "ConvTranspose"):
            names.append(node.name)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                names += _conv_names(attr.g)
    return names


def test_structure_of_special_models() -> None:
    cnn = models.cnn2d()
    ops = {n.op_type for n in cnn.graph.node}
    assert {"Clip", "Sigmoid", "Mul", "LeakyRelu", "HardSwish", "Gemm"} <= ops
    assert any(a.name == "group" and a.i == 16 for n in cnn.graph.node for a in n.attribute)
    assert [n.op_type for n in models.conv_in_if().graph.node].count("Conv") == 0
    assert sorted(_conv_names(models.conv_in_if().graph)) == ["else_conv", "then_conv"]
    assert "ConvTranspose" in {n.op_type for n in models.conv_transpose().graph.node}
    assert all(n.name == "" for n in models.unnamed_nodes().graph.node)
    assert models.nhwc_input().graph.node[0].op_type == "Transpose"
    assert len(models.two_inputs().graph.input) == 2
    imports = {(o.domain, o.version) for o in models.unused_custom_opset().opset_import}
    assert ("ai.vendor", 1) in imports


def test_conv_in_if_takes_both_branches(tiny_model: Callable[[str], Path]) -> None:
    path = tiny_model("conv_in_if")
    model, session = onnx.load(path), _session(path)
    wide = session.run(None, example_feeds(model, free_dim=32))[0]
    narrow = session.run(None, example_feeds(model, free_dim=16))[0]
    assert wide.shape == narrow.shape == (1, 5)


def test_linear_model_matches_closed_form(tiny_model: Callable[[str], Path]) -> None:
    weight, bias = models.linear_weights()
    x = np.random.default_rng(3).standard_normal((2, 3, 16, 16)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((2, 2, 16, 16), np.float64)
    for i in range(3):
        for j in range(3):
            patch = padded[:, :, i : i + 16, j : j + 16]
            conv += np.einsum("nchw,oc->nohw", patch, weight[:, :, i, j])
    conv += bias[None, :, None, None]
    expected = conv.reshape(2, -1).sum(axis=1, keepdims=True)
    (score,) = _session(tiny_model("linear")).run(None, {"input": x})
    np.testing.assert_allclose(score, expected, rtol=1e-4, atol=1e-3)
