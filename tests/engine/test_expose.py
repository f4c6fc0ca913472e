"""Exposing tensors is a pure rewrite that keeps the original outputs first."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from engine.graph.expose import expose_tensors
from engine.graph.inspect import find_layers
from tests.models import cnn2d, example_feeds, plain_cnn


def test_does_not_mutate_input() -> None:
    model = cnn2d()
    before = model.SerializeToString()
    tensors = [layer.tensor for layer in find_layers(model)]
    new, report = expose_tensors(model, tensors)
    assert model.SerializeToString() == before
    assert len(report.exposed) == len(tensors)
    assert new is not model


def test_original_outputs_first_and_equal() -> None:
    model = plain_cnn()
    tensors = [layer.tensor for layer in find_layers(model)]
    new, report = expose_tensors(model, tensors)
    names = [o.name for o in new.graph.output]
    original = [o.name for o in model.graph.output]
    assert names[: len(original)] == original == list(report.original_outputs)
    assert names[len(original):] == tensors
    feeds = example_feeds(model)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = ort.InferenceSession(new.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = ref.run(None, feeds)
    values = got.run(None, feeds)
    for a, b in zip(expected, values[: len(original)], strict=True):
        np.testing.assert_array_equal(a, b)


def test_special_cases_reported() -> None:
    model = plain_cnn()
    out = model.graph.output[0].name
    weight = model.graph.initializer[0].name
    inp = model.graph.input[0].name
    conv = find_layers(model)[0].tensor
    new, report = expose_tensors(model, [out, weight, "no_such_tensor", inp, conv, conv])
    assert report.already_outputs == (out,)
    assert dict(report.skipped) == {weight: "a constant, not computed from the input",
                                    "no_such_tensor": "not a tensor of the top-level graph"}
    assert report.exposed == (f"{inp}__featurescope_exposed", conv)
    assert any("exposed through an Identity" in note for note in report.notes)
    session = ort.InferenceSession(new.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = example_feeds(model)
    values = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds),
                      strict=True))
    np.testing.assert_array_equal(values[f"{inp}__featurescope_exposed"], feeds[inp])


def test_output_types_without_shape_inference() -> None:
    from engine.graph.expose import _TypeTable

    model = plain_cnn()
    table = _TypeTable(model)
    for layer in find_layers(model):
        assert table.of(layer.tensor) == 1  # FLOAT, told from the producers alone
    new, _ = expose_tensors(model, [layer.tensor for layer in find_layers(model)])
    assert all(o.type.tensor_type.elem_type == 1 for o in new.graph.output)
