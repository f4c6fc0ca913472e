"""Score-CAM, Ablation-CAM and Eigen-CAM: known answers and fused/numpy agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.attribution.eigen_cam import projection
from engine.attribution.types import Target
from engine.preprocess import prepare_input
from tests import models
from tests.engine.attribution import _score_cam_reference as reference
from tests.engine.attribution._helpers import (
    BLOB,
    attribute,
    blob_image,
    npy_input,
    one_channel_model,
    save_and_load,
)

CLASS0 = Target(kind="class", index=0)


def _blob_contrast(heatmap: np.ndarray) -> tuple[float, float]:
    inside = np.zeros(heatmap.shape, bool)
    inside[BLOB] = True
    return float(heatmap[inside].mean()), float(heatmap[~inside].mean())


@pytest.mark.parametrize(("variant", "fused"), [("paper", True), ("paper", False),
                                                ("pytorch-grad-cam", True),
                                                ("pytorch-grad-cam", False)])
def test_score_cam_finds_the_channel_the_score_depends_on(tmp_path: Path, variant: str,
                                                          fused: bool) -> None:
    model = save_and_load(one_channel_model(), tmp_path, "one")
    prepared = npy_input(model, blob_image(), tmp_path)
    result = attribute(model, prepared, "score-cam", target=CLASS0, layer="conv",
                       variant=variant, fused=fused)
    inside, outside = _blob_contrast(result.heatmap)
    assert inside > 0.5 and outside < 0.2 * inside
    stats = dict(result.stats)
    assert stats["constant_channels_skipped"] == 1.0
    assert result.layer == "conv" and result.variant == variant
    extra = 1 if variant == "pytorch-grad-cam" else 0
    assert result.perturbation_passes == 3 + extra
    assert any("constant" in note for note in result.notes)


def test_ablation_cam_finds_the_channel(tmp_path: Path) -> None:
    model = save_and_load(one_channel_model(), tmp_path, "one")
    prepared = npy_input(model, blob_image(), tmp_path)
    result = attribute(model, prepared, "ablation-cam", target=CLASS0, layer="conv")
    inside, outside = _blob_contrast(result.heatmap)
    assert inside > 0.5 and outside < 0.2 * inside
    assert result.path == "suffix"
    assert result.batch_mode == "dynamic"


@pytest.mark.parametrize(("builder", "layer", "shape"), [
    (one_channel_model, "conv", (1, 1, 16, 16)),
    (models.cnn2d, "conv5", (1, 3, 32, 32)),
    (models.fixed_batch_reshape, None, (1, 3, 32, 32)),
])
def test_ablation_in_the_graph_matches_numpy(tmp_path: Path, builder, layer: str | None,  # type: ignore[no-untyped-def]
                                             shape: tuple[int, ...]) -> None:
    model = save_and_load(builder(), tmp_path, builder.__name__)
    x = blob_image() if builder is one_channel_model else \
        np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    fused = attribute(model, prepared, "ablation-cam", layer=layer)
    plain = attribute(model, prepared, "ablation-cam", layer=layer, fused=False)
    assert dict(fused.stats)["ablation_in_graph"] == 1.0
    assert dict(plain.stats)["ablation_in_graph"] == 0.0
    assert fused.path == plain.path == "suffix" and fused.batch_mode == plain.batch_mode
    assert fused.perturbation_passes == plain.perturbation_passes > 0
    np.testing.assert_allclose(fused.heatmap, plain.heatmap, rtol=1e-5, atol=1e-6)
    assert np.ptp(fused.heatmap) > 0


def test_eigen_cam_is_one_pass_and_positive_where_the_layer_is_active(tmp_path: Path) -> None:
    model = save_and_load(one_channel_model(), tmp_path, "one")
    prepared = npy_input(model, blob_image(), tmp_path)
    result = attribute(model, prepared, "eigen-cam", layer="conv")
    # One run of the model (with the layer exposed) and no perturbed pass, cold or warm.
    assert (result.perturbation_passes, result.forward_passes, result.session_runs) == (0, 1, 1)
    again = attribute(model, prepared, "eigen-cam", layer="conv")
    assert (again.forward_passes, again.session_runs) == (1, 1)
    inside, outside = _blob_contrast(result.heatmap)
    assert inside > 0 > outside
    rng = np.random.default_rng(0)
    maps = np.abs(rng.standard_normal((5, 4, 4)))
    maps[:, 1, 2] += 5.0  # one strongly active position
    first = projection(maps)
    assert first[1, 2] == first.max() > 0


@pytest.mark.parametrize("variant", ["paper", "pytorch-grad-cam"])
def test_score_cam_fused_matches_numpy_with_normalisation(tmp_path: Path, chelsea: Path,
                                                          variant: str) -> None:
    model = save_and_load(models.cnn2d(), tmp_path, "cnn2d")
    prepared = prepare_input(model.info, chelsea)  # ImageNet normalisation moves into the graph
    fused = attribute(model, prepared, "score-cam", layer="conv5", variant=variant)
    plain = attribute(model, prepared, "score-cam", layer="conv5", variant=variant,
                      fused=False)
    assert fused.path == "fused" and plain.path == "numpy"
    np.testing.assert_allclose(fused.heatmap, plain.heatmap, atol=1e-5)
    assert fused.heatmap.max() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("fused", [True, False])
def test_score_cam_paper_masks_before_normalisation(tmp_path: Path, chelsea: Path,
                                                    fused: bool) -> None:
    """A mask of 0 must give the model a *black* image, not a zero tensor.

    The engine's map equals Score-CAM written out in the test (plain onnxruntime, numpy,
    OpenCV) with each mask multiplying the 0..255 pixels before the ImageNet normalisation,
    and differs from the same computation with the mask multiplying the normalised tensor.
    """
    proto = models.cnn2d()
    model = save_and_load(proto, tmp_path, "cnn2d")
    prepared = prepare_input(model.info, chelsea)
    assert prepared.spec is not None and prepared.spec.preset == "imagenet"
    assert (prepared.spec.mean, prepared.spec.std) == (reference.IMAGENET.mean,
                                                       reference.IMAGENET.std)
    x = prepared.feed_dict()["input"]
    result = attribute(model, prepared, "score-cam", layer="conv6", variant="paper",
                       fused=fused)
    assert result.path == ("fused" if fused else "numpy")
    tensor = reference.shown_tensor(proto, "conv6")  # the HardSwish after conv6
    black = reference.score_cam(proto, tensor, x, result.target_index, norm=reference.IMAGENET)
    grey = reference.score_cam(proto, tensor, x, result.target_index, norm=reference.IMAGENET,
                               mask_the_tensor=True)
    # Measured: engine vs black-masked reference 9e-8; black vs grey reading 1.3e-2.
    assert np.abs(black - grey).max() > 5e-3  # the two readings are told apart
    np.testing.assert_allclose(result.heatmap, black, rtol=0, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
def test_faster_score_cam_keeps_high_variance_channels(tmp_path: Path, fused: bool) -> None:
    """channels=5 keeps exactly the 5 channels whose activation varies most over space."""
    proto = models.cnn2d()
    model = save_and_load(proto, tmp_path, "cnn2d")
    x = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    result = attribute(model, prepared, "score-cam", layer="conv6", channels=5, fused=fused)
    tensor = reference.shown_tensor(proto, "conv6")
    acts, logits = reference.layer_activation(proto, tensor, x)
    assert result.target_index == int(np.argmax(logits[0]))
    variance = acts.reshape(len(acts), -1).var(axis=1)
    order = np.argsort(-variance)
    assert variance[order[4]] > variance[order[5]]  # "the top 5" is well defined
    kept = np.sort(order[:5])
    assert kept.tolist() != list(range(5))  # not simply the first channels
    swapped = np.sort(np.r_[order[:4], order[5]])  # the 5th replaced by the 6th
    expected = reference.score_cam(proto, tensor, x, result.target_index, channels=kept)
    other = reference.score_cam(proto, tensor, x, result.target_index, channels=swapped)
    # Measured: engine vs the top-5 reference 1e-7; swapping one channel moves the map 0.33.
    assert np.abs(expected - other).max() > 0.05
    np.testing.assert_allclose(result.heatmap, expected, rtol=0, atol=1e-5)
    stats = dict(result.stats)
    assert stats["channels_used"] == 5 and stats["channels_total"] == 24
    assert result.perturbation_passes <= 5
