"""Batch planning: dynamic, rewritten Reshape, or one pass at a time; suffix extraction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from engine.attribution.context import balanced_batch
from engine.attribution.types import Target
from engine.errors import InputError
from engine.graph.batching import make_batch_dynamic
from engine.graph.suffix import extract_suffix
from engine.preprocess import prepare_input
from engine.session import create_session
from tests import models
from tests._onnx_build import GraphBuilder, make_model, value_info
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


def _batch_of(proto: onnx.ModelProto, dim: int | str) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    for value in [*copy.graph.input, *copy.graph.output]:
        first = value.type.tensor_type.shape.dim[0]
        if isinstance(dim, int):
            first.dim_value = dim
        else:
            first.dim_param = dim
    return copy


@pytest.mark.parametrize("method", ["occlusion", "score-cam", "ablation-cam", "eigen-cam",
                                    "rise"])
def test_a_fixed_batch_above_one_gives_the_batch_free_maps(tmp_path: Path, method: str
                                                            ) -> None:
    """prepare_input repeats the image to fill a fixed batch of 4; every method explains
    the one real item, as on the same network with a free batch, batched or one by one."""
    free = save_and_load(_batch_of(fixed_input_model(), "batch"), tmp_path, "free")
    four = save_and_load(_batch_of(fixed_input_model(), 4), tmp_path, "four")
    picture = tmp_path / "picture.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (16, 16, 3), np.uint8)).save(
        picture)
    on_free, on_four = prepare_input(free.info, picture), prepare_input(four.info, picture)
    assert on_four.feed_dict()["input"].shape[0] == 4  # repeated to fill the batch
    layer = "conv1" if method != "occlusion" and method != "rise" else None
    params = {"window": 4, "stride": 4} if method == "occlusion" else \
        {"masks": 64} if method == "rise" else {}
    want = attribute(free, on_free, method, layer=layer, **params)
    for batch_size in (None, 1):
        got = attribute(four, on_four, method, layer=layer, batch_size=batch_size, **params)
        np.testing.assert_allclose(got.heatmap, want.heatmap, rtol=1e-5, atol=1e-7)
        assert got.target_score == want.target_score
        if method != "eigen-cam":  # one pass: no perturbed batches
            assert got.batch_mode == ("single" if batch_size == 1 else "rewritten")


def test_a_fixed_batch_that_cannot_be_made_dynamic_is_refused_in_one_sentence(
        tmp_path: Path) -> None:
    """A constant [4, 3] row concatenated to the features: only batch 4 runs."""
    g = GraphBuilder(3)
    x = g.op("Relu", [g.conv("input", 3, 4, 3, name="conv1")])
    flat = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    joined = g.op("Concat", [flat, g.const("extra", np.ones((4, 3), np.float32))], axis=1)
    logits = g.gemm(joined, 7, 3)
    graph = g.graph("stuck", [value_info("input", [4, 3, 16, 16])],
                    [value_info("logits", [4, 3])], logits)
    model = save_and_load(make_model(graph), tmp_path, "stuck")
    picture = tmp_path / "picture.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(picture)
    prepared = prepare_input(model.info, picture)
    with pytest.raises(InputError, match="fixed batch of 4 that could not be made dynamic"):
        attribute(model, prepared, "occlusion", window=8, stride=8)
    assert attribute(model, prepared, "eigen-cam", layer="conv1").heatmap.shape == (16, 16)
