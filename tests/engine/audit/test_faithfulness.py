"""Deletion/insertion against closed forms, noise against a real method, and the
parameter-randomisation sanity check."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.attribution.method_spec import Method, MethodOutput, param
from engine.attribution.registry import METHODS
from engine.attribution.types import AttributionRequest
from engine.audit.faithfulness import auc, evaluate, step_counts
from engine.audit.sanity import cascading_randomisation, spearman, ssim
from engine.audit.step_graphs import pixel_ranks
from engine.cli import main
from engine.model_io import load_model
from engine.preprocess import prepare_input
from tests import models
from tests.engine.attribution._helpers import npy_input, save_and_load
from tests.engine.attribution.test_occlusion import _linear_gradient


@dataclass(frozen=True)
class NoiseParams:
    """Seeded noise."""

    seed: int = param(0, "int", "noise seed", low=0)


def _noise(ctx, params: NoiseParams, progress, cancel) -> MethodOutput:  # type: ignore[no-untyped-def]
    del progress, cancel
    rng = np.random.default_rng(params.seed)
    return MethodOutput(heatmap=rng.random(ctx.geometry.size).astype(np.float32),
                        forward_passes=0, batch_size=1, path="numpy")


NOISE = Method(name="noise", title="Noise", description="Random map (tests only).",
               params_type=NoiseParams, run=_noise,
               estimate_passes=lambda query, params: 0)


def test_auc_and_steps_closed_forms() -> None:
    assert auc(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert auc(np.linspace(1.0, 0.0, 11)) == pytest.approx(0.5)
    assert step_counts(16 * 16, 16).tolist() == [16 * k for k in range(17)]
    ranks = pixel_ranks(np.array([[0.5, 0.9], [0.9, 0.1]]))
    assert ranks.tolist() == [[2, 0], [1, 3]]  # ties by row-major index


@pytest.mark.parametrize("fused, float_ranks", [(True, True), (True, False), (False, True)],
                         ids=["fused", "fused-int64-ranks", "numpy"])
def test_linear_model_curves_match_the_closed_form(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fused: bool, float_ranks: bool) -> None:
    # Inputs over 2**24 pixels keep int64 ranks and Less/Where: the same curves.
    monkeypatch.setattr("engine.audit.faithfulness.float_ranks", lambda geometry: float_ranks)
    model = save_and_load(models.linear(), tmp_path, "linear")
    x = np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    request = AttributionRequest("occlusion", params=(("window", (4, 4)), ("stride", (2, 2))))
    result = evaluate(model, prepared, request, steps=16, fused=fused, preference="cpu")
    assert result.path == ("fused" if fused else "numpy")
    grad = _linear_gradient()
    _, bias = models.linear_weights()
    s0 = float((grad * x[0]).sum() + bias.sum() * 256)
    ranks = pixel_ranks(result.attribution.heatmap).reshape(-1)
    counts = step_counts(256, 16)
    contribution = (grad * x[0]).sum(axis=0).reshape(-1)
    blurred = np.stack([cv2.GaussianBlur(c, (11, 11), 5.0, borderType=cv2.BORDER_REFLECT_101)
                        for c in x[0]])
    gain = (grad * (x[0] - blurred)).sum(axis=0).reshape(-1)
    s_blur = float((grad * blurred).sum() + bias.sum() * 256)
    deletion = [s0 - contribution[ranks < n].sum() for n in counts]
    insertion = [s_blur + gain[ranks < n].sum() for n in counts]
    np.testing.assert_allclose(result.curve("deletion").scores, deletion, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(result.curve("insertion").scores, insertion, rtol=1e-4,
                               atol=1e-3)
    assert result.curve("deletion").auc == pytest.approx(
        np.trapezoid(deletion, dx=1 / 16), rel=1e-4)


def test_noise_is_less_faithful_than_occlusion_on_the_demo(
        monkeypatch: pytest.MonkeyPatch, demo_model: Path, chelsea: Path) -> None:
    monkeypatch.setitem(METHODS, "noise", NOISE)
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    occlusion = evaluate(model, prepared, AttributionRequest(
        "occlusion", params=(("window", (32, 32)), ("stride", (16, 16)))), steps=16,
        score_mode="probability", preference="cpu")
    noise = evaluate(model, prepared, AttributionRequest("noise"), steps=16,
                     score_mode="probability", preference="cpu")
    # Insertion is the telling metric here: deleting scattered noise pixels destroys the
    # image's statistics quickly, so a noise map can even get a low deletion AUC (the
    # out-of-distribution effect ROAD was designed against); restoring them does not
    # restore the cat.
    assert occlusion.curve("insertion").auc > noise.curve("insertion").auc + 0.05
    start = occlusion.curve("deletion").scores[0]
    assert start == pytest.approx(occlusion.attribution.target_score, rel=1e-4)  # probability


def test_evaluate_cli_writes_curves_and_prints_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "linear.onnx"
    import onnx

    onnx.save_model(models.linear(), path)
    np.save(tmp_path / "x.npy", np.ones((1, 3, 16, 16), np.float32))
    assert main(["evaluate", str(path), str(tmp_path / "x.npy"), "--method", "occlusion",
                 "--window", "4", "--stride", "4", "--steps", "8", "--json",
                 "--out", str(tmp_path / "ev")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"deletion", "insertion"}
    assert len(data["deletion"]["curve"]) == 9 and isinstance(data["insertion"]["auc"], float)
    for name in ("heatmap.npy", "overlay.png", "curves.csv", "curves.png", "manifest.json"):
        assert (tmp_path / "ev" / name).is_file()
    manifest = json.loads((tmp_path / "ev" / "manifest.json").read_text())
    assert manifest["metrics"]["deletion"]["auc"] == pytest.approx(data["deletion"]["auc"])
    assert manifest["metrics"]["insertion_start"]["sigma"] == 5.0


def test_similarity_measures() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((32, 32))
    assert spearman(a, a) == pytest.approx(1.0) and ssim(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert abs(spearman(a, rng.random((32, 32)))) < 0.2


def test_randomising_the_weights_changes_score_cam(demo_model: Path, chelsea: Path) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    request = AttributionRequest("score-cam", params=(("channels", 32),))
    check = cascading_randomisation(model, prepared, request, cascade=2, seed=1,
                                    preference="cpu")
    assert check.layers == 50  # 49 convolutions and the classifier's Gemm
    assert [s.randomised for s in check.steps] == [25, 50]
    assert check.passed and "passed" in check.verdict
    assert abs(check.steps[-1].spearman) < 0.5


def test_a_map_that_ignores_the_model_fails_the_check(
        monkeypatch: pytest.MonkeyPatch, demo_model: Path, chelsea: Path) -> None:
    monkeypatch.setitem(METHODS, "noise", NOISE)
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    check = cascading_randomisation(model, prepared, AttributionRequest("noise"), cascade=1,
                                    preference="cpu")
    assert not check.passed and check.verdict.startswith("FAILED")
    assert check.steps[-1].spearman == pytest.approx(1.0)



@pytest.mark.parametrize("float_ranks", [True, False], ids=["float32-ranks", "int64-ranks"])
def test_fused_curves_equal_the_numpy_curves_on_a_channels_last_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, float_ranks: bool) -> None:
    """The in-graph step images of an NHWC input are the ones numpy builds, to the score."""
    monkeypatch.setattr("engine.audit.faithfulness.float_ranks", lambda geometry: float_ranks)
    model = save_and_load(models.nhwc_input(), tmp_path, "nhwc")
    x = np.random.default_rng(4).standard_normal((1, 32, 32, 3)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    request = AttributionRequest("occlusion", params=(("window", (4, 4)), ("stride", (4, 4))))
    fused = evaluate(model, prepared, request, steps=32, fused=True, preference="cpu")
    plain = evaluate(model, prepared, request, steps=32, fused=False, preference="cpu")
    assert fused.path == "fused" and plain.path == "numpy"
    for metric in ("deletion", "insertion"):
        np.testing.assert_allclose(fused.curve(metric).scores, plain.curve(metric).scores,
                                   rtol=1e-5, atol=1e-5)
        assert len(set(np.round(fused.curve(metric).scores, 4))) > 5  # the curve moves
