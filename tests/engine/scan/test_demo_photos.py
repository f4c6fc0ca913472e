"""The demo model over real photographs: every channel of every layer, against brute force.

The photos are scikit-image's (fetched pinned by sha256, see ``tests/real_models.py``);
crops, flips and scales of them, as PNG and JPEG, give the volume. The scan's
top-k of every channel must be the images and locations a brute-force numpy
computation over ``extract_feature_maps`` ranks first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.input_proposal import propose_input_spec
from engine.model_io import load_model
from engine.scan import ScanRequest, ScanStore, channel_statistics, run_scan
from engine.scan.sources import collect_paths
from tests.engine.scan._brute_force import assert_top_k_equal, brute_force_peaks

PHOTOS = ("chelsea", "coffee", "astronaut", "page", "text")
K = 3


@pytest.fixture(scope="module")
def photo_folder(photo: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
                 ) -> Path:
    """15 images derived from the five photos: the photo, a flipped crop, a smaller JPEG."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "jpeg").mkdir()  # a nested folder: DATA folders are searched recursively
    for name in PHOTOS:
        with Image.open(photo(name)) as opened:
            image = opened.convert("RGB")
        w, h = image.size
        image.save(folder / f"{name}.png")
        crop = image.crop((w // 8, h // 10, w - w // 6, h - h // 7))
        crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / f"{name}_flip.png")
        image.resize((w * 2 // 3, h * 2 // 3), Image.Resampling.BILINEAR).save(
            folder / "jpeg" / f"{name}_small.jpg", quality=92)
    return folder


def test_demo_scan_of_real_photos_equals_brute_force(demo_model: Path, photo_folder: Path,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "scan"
    summary = run_scan(ScanRequest(str(demo_model), (str(photo_folder),), str(out), k=K,
                                   batch_size=4, shard_size=8, preference="cpu"))
    paths = collect_paths([str(photo_folder)])
    assert summary.readable == len(paths) == 15 and summary.layers == 49
    model = load_model(demo_model)
    maxima, argmax = brute_force_peaks(model, paths, propose_input_spec(model).spec)
    store = ScanStore.open(out)
    try:
        for layer in store.layers:
            scores = maxima[layer.name]
            stats = channel_statistics(store, layer.name)
            np.testing.assert_array_equal(stats.maximum, scores.max(axis=0))
            np.testing.assert_allclose(stats.mean, scores.astype(np.float64).mean(axis=0),
                                       rtol=1e-12)
            # The in-graph reductions reproduce the maps exactly (same kernels).
            assert_top_k_equal(store, layer, scores, argmax[layer.name], K)
    finally:
        store.close()
