"""16-bit float models: the scan reports the maxima ``maps`` shows, rounded to the layer's type.

onnxruntime's CPU provider runs float16 layers in float32 and keeps float32 values between
them; ``maps`` saves the declared, rounded tensors. The scan rounds its maxima the same way.
"""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnxruntime.transformers.float16 import convert_float_to_float16

from engine.featuremaps import extract_feature_maps
from engine.input_proposal import propose_input_spec
from engine.model_io import load_model
from engine.preprocess import prepare_input
from engine.scan import ScanStore, read_examples, run_scan
from engine.scan.runner import HALF_NOTE
from engine.scan.shard import round_to_storage
from engine.scan.sources import collect_paths
from tests.engine.scan._brute_force import brute_force_peaks
from tests.engine.scan._scan_data import detector_model
from tests.engine.scan.conftest import BROKEN, Detector


@pytest.mark.parametrize(("elem", "dtype"), [(onnx.TensorProto.FLOAT16, np.float16),
                                             (onnx.TensorProto.BFLOAT16, ml_dtypes.bfloat16)])
def test_rounding_matches_the_storage_type(elem: int, dtype: type) -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([
        rng.standard_normal(10_000).astype(np.float32) * 100,
        # ties: halfway between two bfloat16 (1 + 2**-8, 1 + 3 * 2**-8) and float16 values
        np.array([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-11, 1 + 3 * 2**-11, 0.0, -0.0, 65504.0,
                  np.inf, -np.inf], np.float32)])
    want = values.astype(dtype).astype(np.float32)
    np.testing.assert_array_equal(round_to_storage(values, elem), want)
    assert np.isnan(round_to_storage(np.array([np.nan], np.float32), elem)).all()


def test_a_float16_model_scans_to_the_maxima_maps_shows(detector: Detector,
                                                        tmp_path: Path) -> None:
    half = tmp_path / "detector_fp16.onnx"
    onnx.save(convert_float_to_float16(detector_model(), keep_io_types=True), half)
    fp16 = Detector(half, detector.images, tmp_path / "scan", None)  # type: ignore[arg-type]
    summary = run_scan(fp16.request(fp16.out, preference="cpu"))
    assert HALF_NOTE in summary.notes
    model = load_model(half)
    paths = [p for p in collect_paths([str(detector.images)]) if not p.endswith(BROKEN)]
    spec = propose_input_spec(model).spec
    maxima, _ = brute_force_peaks(model, paths, spec)
    maps = {path: {m.layer.name: m.data for m in extract_feature_maps(
        model, prepare_input(model.info, path, spec)).layers} for path in paths}
    store = ScanStore.open(fp16.out)
    try:
        for layer in store.layers:
            for channel in range(layer.channels):
                scores = maxima[layer.name][:, channel]
                examples = read_examples(store, layer.name, channel)
                # The k best maxima of the rounded maps, each found where the map holds it.
                assert [e.score for e in examples] == \
                    np.sort(scores)[::-1][:len(examples)].tolist()
                for e in examples:
                    plane = maps[e.path][layer.name][channel].reshape(-1)
                    assert plane[e.y * layer.width + e.x] == e.score == plane.max()
    finally:
        store.close()
