"""Batch planning: dynamic, rewritten Reshape, or one pass at a time; suffix extraction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from engine.attribution.context import balanced_batch
from engine.attribution.types import Target
from engine.graph.batching import make_batch_dynamic
from engine.graph.suffix import extract_suffix
from engine.session import create_session
from tests import models
from tests.engine.attribution._helpers import (
    attribute,
    fixed_input_model,
    npy_input,
    save_and_load,
    tiny_fp16,
    unbatchable_model,
)


def _input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(("builder", "mode"), [(models.cnn2d, "dynamic"),
                                               (models.fixed_batch_reshape, "rewritten"),
                                               (fixed_input_model, "rewritten"),
                                               (unbatchable_model, "single")])
def test_batch_mode_is_verified_and_reported(tmp_path: Path, builder, mode: str  # type: ignore[no-untyped-def]
                                             ) -> None:
    proto = builder()
    model = save_and_load(proto, tmp_path, builder.__name__)
    size = 32 if builder in (models.cnn2d, models.fixed_batch_reshape) else 16
    prepared = npy_input(model, _input((1, 3, size, size)), tmp_path)
    batched = attribute(model, prepared, "occlusion", window=8, stride=8)
    single = attribute(model, prepared, "occlusion", window=8, stride=8, batch_size=1)
    assert batched.batch_mode == mode
    assert single.batch_mode == "single" and single.batch_size == 1
    np.testing.assert_allclose(batched.heatmap, single.heatmap, rtol=1e-4, atol=1e-6)
    if mode == "rewritten":
        assert any("verified against batch 1" in n for n in batched.notes)
    if mode == "single":
        assert batched.batch_size == 1


def test_make_batch_dynamic_is_pure_and_reports_reshapes() -> None:
    proto = models.fixed_batch_reshape()
    before = proto.SerializeToString()
    new, report = make_batch_dynamic(proto, ["input"])
    assert proto.SerializeToString() == before
    assert report.reshapes == ("flatten",)
    assert report.outputs == ("logits",)
    session = create_session(new, "cpu")
    out = session.run({"input": _input((3, 3, 32, 32))})
    assert out["logits"].shape == (3, 5)


def test_suffix_reproduces_the_model_from_the_layer() -> None:
    proto = models.cnn2d()
    feeds = {"input": _input((2, 3, 32, 32))}
    layer = "conv5_out"
    full = create_session(proto, "cpu")
    from engine.graph.expose import expose_tensors

    exposed, _ = expose_tensors(proto, [layer])
    values = create_session(exposed, "cpu").run(feeds)
    suffix = extract_suffix(proto, layer, {layer: onnx.TensorProto.FLOAT})
    assert suffix.node_count < suffix.total_nodes
    out = create_session(suffix.model, "cpu").run({layer: values[layer]})
    np.testing.assert_allclose(out["logits"], full.run(feeds)["logits"], rtol=1e-5, atol=1e-5)


def test_fp16_model_runs_every_fused_method(tmp_path: Path) -> None:
    model = save_and_load(tiny_fp16(models.cnn2d()), tmp_path, "cnn_fp16")
    prepared = npy_input(model, _input((1, 3, 32, 32)).astype(np.float16), tmp_path)
    target = Target(kind="class", index=1)
    for method, params in (("occlusion", {"window": 8, "stride": 8}),
                           ("score-cam", {"channels": 4}), ("rise", {"masks": 16})):
        fused = attribute(model, prepared, method, target=target, **params)
        plain = attribute(model, prepared, method, target=target, fused=False, **params)
        assert fused.path == "fused"
        assert np.all(np.isfinite(fused.heatmap))
        np.testing.assert_allclose(fused.heatmap, plain.heatmap, atol=2e-2)


def test_balanced_batches_weigh_padding_against_the_number_of_runs() -> None:
    def cost(total: int, size: int) -> int:  # padded items plus one item's worth per run
        return -(-total // size) * (size + 1)

    def padded(total: int, size: int) -> int:
        return -(-total // size) * size - total

    assert balanced_batch(225, 32) == 25  # 9 x 25, nothing padded (8 x 29 pads 7)
    assert balanced_batch(33, 32) == 17  # 2 x 17 pads 1 (2 x 24 would pad 15)
    assert balanced_batch(961, 4) == 4  # 3 pads 1 item less but needs 80 more runs
    assert balanced_batch(10, 32) == 10
    assert balanced_batch(100, 1) == 1
    for total in range(1, 300):
        for budget in range(1, 40):
            size = balanced_batch(total, budget)
            assert 1 <= size <= budget
            # Never more padding than the fewest batches of the budget, evened out...
            fewest = -(-total // -(-total // budget))
            assert padded(total, size) <= padded(total, fewest)
            # ...and no size from 3/4 of the budget up to it is cheaper.
            if total > budget:
                for other in range(-(-3 * budget // 4), budget + 1):
                    assert cost(total, size) <= cost(total, other)
