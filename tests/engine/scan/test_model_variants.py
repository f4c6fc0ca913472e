"""Exports of one network that vendors ship: each scan keeps what the plain export's keeps.

* a fixed batch of 4: partial batches are padded and the padding dropped (the detector's
  16 readable images in shards of 8 leave partial batches);
* opset 9 (before TopK took ``k`` as an input): maps are located with ReduceMax and ArgMax.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from engine.scan import ScanStore, channel_statistics, read_examples, run_scan
from engine.scan.store import vector_path
from tests.engine.scan._scan_data import detector_model
from tests.engine.scan.conftest import Detector


def _fixed_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = 4
    return model


def _opset9(model: onnx.ModelProto) -> onnx.ModelProto:
    model.opset_import[0].version = 9  # Conv, Relu, GlobalAveragePool: the same at opset 9
    return model


@pytest.mark.parametrize("variant", [_fixed_batch, _opset9], ids=["fixed-batch-4", "opset-9"])
def test_an_export_variant_keeps_what_the_plain_export_keeps(detector: Detector,
                                                            tmp_path: Path, variant) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "variant.onnx"
    onnx.save(variant(detector_model()), path)
    other = Detector(path, detector.images, tmp_path / "scan", None)  # type: ignore[arg-type]
    summary = run_scan(other.request(other.out))
    assert summary.readable == detector.summary.readable == 16
    ours, theirs = ScanStore.open(other.out), ScanStore.open(detector.out)
    try:
        for layer in theirs.layers:
            for channel in range(layer.channels):
                assert read_examples(ours, layer.name, channel) == \
                    read_examples(theirs, layer.name, channel)
            a, b = channel_statistics(ours, layer.name), channel_statistics(theirs, layer.name)
            for field in ("count", "maximum", "fire_fraction"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
            np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12)
            for kind in ("max", "mean"):
                np.testing.assert_array_equal(np.load(vector_path(other.out, layer.index, kind)),
                                              np.load(vector_path(detector.out, layer.index,
                                                                  kind)))
    finally:
        ours.close()
        theirs.close()
