"""The fuzz corpus: real models mutated, odd images and tensors, from one seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests import real_models
from tests.fuzz.mutate_inputs import image_cases, npy_cases
from tests.fuzz.mutate_models import Case, byte_cases, structural_cases

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"


def build_corpus(folder: Path, seed: int, scale: int = 1) -> list[Case]:
    """Write every case under ``folder``; ``scale`` multiplies the random ones."""
    rng = np.random.default_rng(seed)
    astronaut = real_models.fetch("astronaut")
    text = real_models.fetch("text")
    chelsea = ROOT / "resources" / "images" / "chelsea.png"
    seeds = [(real_models.fetch("mtcnn_pnet_nhwc_keras2onnx"), astronaut),
             (real_models.fetch("ppocr_mobile_v2_textline_cls"), text),
             (DEMO, chelsea)]
    cases: list[Case] = []
    for index, (source, image) in enumerate(seeds):
        sub = folder / f"models{index}"
        sub.mkdir()
        cases.extend(structural_cases(source, sub, image))
        cases.extend(byte_cases(source, sub, image, rng, truncations=4 * scale,
                                flips=6 * scale))
    images = folder / "images"
    images.mkdir()
    cases.extend(image_cases(chelsea, DEMO, images, rng, truncations=4 * scale,
                             flips=4 * scale))
    tensors = folder / "npy"
    tensors.mkdir()
    cases.extend(npy_cases(DEMO, (1, 3, 224, 224), tensors))
    return cases
