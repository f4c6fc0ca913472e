"""A model exported with a fixed batch of 4: partial batches are padded, the padding dropped.

The detector's images (16 readable, one broken, shards of 8) leave partial batches; the
scan of the fixed-batch copy must keep exactly what the scan of the batch-free model keeps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from engine.scan import ScanStore, channel_statistics, read_examples, run_scan
from engine.scan.store import vector_path
from tests.engine.scan._scan_data import detector_model
from tests.engine.scan.conftest import Detector

FIXED = 4


def _fixed_batch_model(folder: Path) -> Path:
    model = detector_model()
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = FIXED
    path = folder / "detector_batch4.onnx"
    onnx.save(model, path)
    return path


def test_a_fixed_batch_model_keeps_what_the_batch_free_model_keeps(detector: Detector,
                                                                  tmp_path: Path) -> None:
    fixed = Detector(_fixed_batch_model(tmp_path), detector.images, tmp_path / "scan", None)  # type: ignore[arg-type]
    summary = run_scan(fixed.request(fixed.out, batch_size=3))  # the model imposes 4
    assert summary.readable == detector.summary.readable == 16
    ours, theirs = ScanStore.open(fixed.out), ScanStore.open(detector.out)
    try:
        assert ours.meta["plan"] != theirs.meta["plan"]  # batch 4, not 3
        for layer in theirs.layers:
            for channel in range(layer.channels):
                assert read_examples(ours, layer.name, channel) == \
                    read_examples(theirs, layer.name, channel)
            a, b = channel_statistics(ours, layer.name), channel_statistics(theirs, layer.name)
            for field in ("count", "maximum", "fire_fraction"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
            np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12)
            for kind in ("max", "mean"):
                np.testing.assert_array_equal(np.load(vector_path(fixed.out, layer.index, kind)),
                                              np.load(vector_path(detector.out, layer.index,
                                                                  kind)))
    finally:
        ours.close()
        theirs.close()
