"""Real vendor models of other classes scanned over real photos, against brute force.

A face-landmark net exported channels-last by keras2onnx, a text recogniser with
int8 weights fed letterboxed text lines, a YOLOv8 detector and a DBNet text detector
(pinned by sha256, see ``tests/real_models.py``). For every channel of every layer the
scan's top-k must be the images and first row-major arg-max locations that a numpy
ranking over ``extract_feature_maps`` (the exposed graph, no in-graph reduction) gives,
and its per-channel maxima must equal the maps' maxima.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.input_proposal import propose_input_spec
from engine.model_io import load_model
from engine.scan import ScanRequest, ScanStore, channel_statistics, run_scan
from engine.scan.sources import collect_paths
from tests.engine.scan._brute_force import assert_top_k_equal, brute_force_peaks

K = 2
#: (real model, resize override): the recogniser needs one input size for a scan.
MODELS = (("mtcnn_onet_nhwc_keras2onnx", None), ("ppocrv6_rec_tiny_ctc_int8w", "letterbox"),
          ("nudenet_320n_yolov8_ultralytics", None), ("ppocrv4_det_dbnet", None))


@pytest.fixture(scope="module")
def six_photos(photo: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
               ) -> Path:
    """Five real photos and one flipped crop, half PNG, half JPEG."""
    folder = tmp_path_factory.mktemp("vendor_photos")
    for index, name in enumerate(("chelsea", "coffee", "astronaut", "page", "text")):
        with Image.open(photo(name)) as opened:
            image = opened.convert("RGB")
        image.save(folder / f"{name}.{'png' if index % 2 else 'jpg'}", quality=92)
        if name == "astronaut":
            w, h = image.size
            image.crop((w // 6, h // 5, w - w // 9, h - h // 4)).transpose(
                Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "astronaut_crop.png")
    return folder


@pytest.mark.parametrize(("name", "resize"), MODELS, ids=[m[0] for m in MODELS])
def test_vendor_scan_equals_brute_force(name: str, resize: str | None,
                                        real_model: Callable[[str], Path], six_photos: Path,
                                        tmp_path: Path) -> None:
    path = real_model(name)
    model = load_model(path)
    spec = propose_input_spec(model).spec
    if resize:
        spec = replace(spec, resize=resize)
    summary = run_scan(ScanRequest(str(path), (str(six_photos),), str(tmp_path / "scan"),
                                   k=K, batch_size=2, preference="cpu", spec=spec))
    paths = collect_paths([str(six_photos)])
    assert summary.readable == len(paths) == 6 and summary.layers > 0
    maxima, argmax = brute_force_peaks(model, paths, spec)
    store = ScanStore.open(tmp_path / "scan")
    try:
        assert {layer.name for layer in store.layers} <= set(maxima)
        for layer in store.layers:
            scores = maxima[layer.name]
            np.testing.assert_array_equal(channel_statistics(store, layer.name).maximum,
                                          scores.max(axis=0))
            assert_top_k_equal(store, layer, scores, argmax[layer.name], K)
    finally:
        store.close()
