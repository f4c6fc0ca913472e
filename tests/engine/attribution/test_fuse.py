"""Fused graph builders: purity, Resize and MatMul upsampling agree, old opsets fall back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.attribution.fused_graphs import ImageGeometry, score_cam_graph
from engine.attribution.targets import append_score_nodes, resolve_target
from engine.attribution.types import Target
from engine.session import create_session
from tests import models
from tests.engine.attribution._helpers import attribute, npy_input, save_and_load


def test_resize_and_matmul_upsampling_give_the_same_scores() -> None:
    proto = models.cnn2d()
    before = proto.SerializeToString()
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    outputs = create_session(proto, "cpu").run({"input": x})
    target = resolve_target(Target(), outputs, ("logits",))

    def nodes(builder, output, elem):  # type: ignore[no-untyped-def]
        return append_score_nodes(builder, output, elem, target)

    geo = ImageGeometry("NCHW", 3, 32, 32)
    feeds = {"fs_slices": np.random.default_rng(1).random((4, 8, 8)).astype(np.float32),
             "fs_image": x, "fs_baseline": np.zeros_like(x)}
    scores = []
    for align in (False, True):
        for upsample in ("resize", "matmul"):
            graph = score_cam_graph(proto, "input", geo, (8, 8), "logits", 1, nodes, align,
                                    1e-8, None, upsample)  # type: ignore[arg-type]
            scores.append(create_session(graph, "cpu").run(feeds)["fs_score"])
    assert proto.SerializeToString() == before
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores[2], scores[3], rtol=1e-5, atol=1e-6)


def test_models_older_than_opset_11_fall_back_to_numpy(tmp_path: Path) -> None:
    proto = models.plain_cnn()  # Conv, Relu, GlobalAveragePool, Flatten, Gemm: valid in opset 10
    proto.opset_import[0].version = 10
    model = save_and_load(proto, tmp_path, "old")
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    result = attribute(model, prepared, "occlusion", window=8, stride=8)
    assert result.path == "numpy"
    assert any("opset 10" in note for note in result.notes)
