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

from engine.featuremaps import extract_feature_maps
from engine.input_proposal import propose_input_spec
from engine.model_io import load_model
from engine.preprocess import prepare_input
from engine.scan import ScanRequest, ScanStore, channel_statistics, read_examples, run_scan
from engine.scan.sources import collect_paths

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
    spec = propose_input_spec(model).spec
    maxima: dict[str, list[np.ndarray]] = {}
    argmax: dict[str, list[np.ndarray]] = {}
    for path in paths:
        maps = extract_feature_maps(model, prepare_input(model.info, path, spec))
        for layer in maps.layers:
            flat = layer.data.reshape(layer.data.shape[0], -1)
            maxima.setdefault(layer.layer.name, []).append(flat.max(axis=1))
            argmax.setdefault(layer.layer.name, []).append(flat.argmax(axis=1))
    store = ScanStore.open(out)
    try:
        for layer in store.layers:
            scores = np.stack(maxima[layer.name])
            first = np.stack(argmax[layer.name])
            stats = channel_statistics(store, layer.name)
            np.testing.assert_array_equal(stats.maximum, scores.max(axis=0))
            np.testing.assert_allclose(stats.mean, scores.astype(np.float64).mean(axis=0),
                                       rtol=1e-12)
            for channel in range(layer.channels):
                examples = read_examples(store, layer.name, channel)
                ranked = sorted(range(len(paths)), key=lambda i: (-scores[i, channel], i))[:K]
                # The in-graph reductions reproduce the maps exactly (same kernels).
                assert [e.image for e in examples] == ranked
                assert [e.score for e in examples] == scores[ranked, channel].tolist()
                assert [e.y * layer.width + e.x for e in examples] == \
                    first[ranked, channel].tolist()
                for example in examples:
                    x0, y0, x1, y1 = example.box
                    assert 0 <= x0 < x1 and 0 <= y0 < y1
    finally:
        store.close()
