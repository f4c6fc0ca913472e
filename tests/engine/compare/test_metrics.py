"""The comparison's arithmetic against numpy written out independently (no models run)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.compare.cka import (
    cka_matrix,
    grid_side,
    linear_cka,
    monotone_alignment,
    normalized_gram,
    pooled_features,
)
from engine.compare.codec import Codec
from engine.compare.matching import match_layers, normalized_name
from engine.compare.metrics import ErrorSums, OutputSums
from engine.compare.plan import plan_windows
from engine.compare.runner import FLOAT_TOLERANCE, first_divergence
from engine.compare.types import PairResult
from engine.errors import ResourceError
from engine.types import LayerInfo


def _pair_of(rng: np.random.Generator, shape: tuple[int, ...], noise: float
             ) -> tuple[np.ndarray, np.ndarray]:
    a = rng.standard_normal(shape).astype(np.float32)
    return a, (a + noise * rng.standard_normal(shape)).astype(np.float32)


def test_error_figures_match_numpy_over_pooled_inputs() -> None:
    rng = np.random.default_rng(1)
    inputs = [_pair_of(rng, (1, 5, 7, 9), 0.1) for _ in range(3)]
    sums = ErrorSums()
    for a, b in inputs:
        sums.add(a, b)
    a = np.concatenate([x for x, _ in inputs]).astype(np.float64)
    b = np.concatenate([y for _, y in inputs]).astype(np.float64)
    d = b - a
    assert sums.max_abs == pytest.approx(np.abs(d).max(), rel=1e-12)
    assert sums.rel_l2 == pytest.approx(np.linalg.norm(d) / np.linalg.norm(a), rel=1e-10)
    cosine = np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b))
    assert sums.cosine == pytest.approx(cosine, rel=1e-10)
    assert sums.snr_db == pytest.approx(10 * np.log10(np.sum(a**2) / np.sum(d**2)), rel=1e-10)
    per_channel = [np.linalg.norm(d[:, c]) / np.linalg.norm(a[:, c]) for c in range(5)]
    np.testing.assert_allclose(sums.per_channel(), per_channel, rtol=1e-10)


def test_identical_and_degenerate_tensors() -> None:
    a = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    same = ErrorSums()
    same.add(a, a.copy())
    assert (same.max_abs, same.rel_l2, same.cosine) == (0.0, 0.0, 1.0)
    assert same.snr_db == math.inf
    zeros = ErrorSums()
    zeros.add(np.zeros((1, 2, 3)), np.ones((1, 2, 3)))
    assert zeros.rel_l2 == math.inf and zeros.snr_db == -math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        ErrorSums().add(np.zeros((1, 2)), np.zeros((1, 3)))


def test_large_maps_are_summed_in_chunks_like_numpy() -> None:
    rng = np.random.default_rng(2)
    a, b = _pair_of(rng, (1, 3, 200, 300), 1e-3)  # rows longer than one chunk
    sums = ErrorSums()
    sums.add(a, b)
    d = b.astype(np.float64) - a
    assert sums.rel_l2 == pytest.approx(np.linalg.norm(d) / np.linalg.norm(a.astype(np.float64)),
                                        rel=1e-10)


def test_output_agreement_top1_and_max_difference() -> None:
    sums = OutputSums()
    sums.add({"logits": np.array([[0.1, 0.9, 0.0]]), "box": np.zeros((1, 4, 2, 2))},
             {"logits": np.array([[0.2, 0.7, 0.1]]), "box": np.full((1, 4, 2, 2), 0.25)})
    sums.add({"logits": np.array([[0.8, 0.1, 0.1]]), "box": np.zeros((1, 4, 2, 2))},
             {"logits": np.array([[0.1, 0.8, 0.1]]), "box": np.zeros((1, 4, 2, 2))})
    result = sums.result()
    by_name = {o.a: o for o in result.outputs}
    assert by_name["logits"].classifier and by_name["logits"].top1_agreement == 0.5
    assert not by_name["box"].classifier and by_name["box"].top1_agreement is None
    assert by_name["box"].max_abs == 0.25
    assert result.top1_agreement == 0.5
    assert result.max_abs == pytest.approx(0.7)


def test_outputs_renamed_in_b_match_by_position() -> None:
    sums = OutputSums()
    sums.add({"y": np.ones((1, 2))}, {"y_renamed": np.ones((1, 2))})
    assert [(o.a, o.b) for o in sums.result().outputs] == [("y", "y_renamed")]


def _cka_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al., eq. for linear CKA in feature space."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    return float(np.linalg.norm(y.T @ x) ** 2
                 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def test_linear_cka_matches_the_feature_space_formula_and_invariances() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 12))
    y = x @ rng.standard_normal((12, 7)) + 0.5 * rng.standard_normal((40, 7))
    assert linear_cka(x, y) == pytest.approx(_cka_reference(x, y), rel=1e-9)
    rotation, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    assert linear_cka(x, 3.0 * x @ rotation + 2.0) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(x, np.ones((40, 3))) == 0.0
    grams = [normalized_gram(x), normalized_gram(y)]
    matrix = cka_matrix(grams, grams)
    assert matrix[0, 1] == pytest.approx(_cka_reference(x, y), rel=1e-9)
    np.testing.assert_allclose(np.diag(matrix), 1.0)


def test_pooled_features_average_cells_and_repeat_small_maps() -> None:
    value = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    features = pooled_features(value, 2)
    assert features.shape == (2 * 4, 3)
    expected = value[0, 1, :2, 2:].mean()  # input 0, cell (0, 1), channel 1
    assert features[1, 1] == pytest.approx(expected)
    tiny = pooled_features(np.ones((1, 5, 1, 1), dtype=np.float32), 3)
    assert tiny.shape == (9, 5)
    one_d = pooled_features(np.arange(12, dtype=np.float32).reshape(1, 1, 12), 2)
    np.testing.assert_allclose(one_d[:, 0], [1.0, 4.0, 7.0, 10.0])
    assert grid_side(1) == 8 and grid_side(16) == 4 and grid_side(10_000) == 1


def test_monotone_alignment_keeps_order_and_threshold() -> None:
    similarity = np.array([[0.9, 0.2, 0.1],
                           [0.95, 0.3, 0.2],
                           [0.1, 0.2, 0.8]])
    assert monotone_alignment(similarity, 0.5) == [(1, 0), (2, 2)]
    assert monotone_alignment(similarity, 0.99) == []


def test_codec_round_trip_of_uint8_activations() -> None:
    codec = Codec(scale=np.array(0.05, np.float32), zero_point=np.array(10, np.uint8))
    real = np.array([[-0.5, 0.0, 0.5, 20.0]], np.float32)
    stored = codec.encode(real, np.dtype(np.uint8))
    assert stored is not None
    np.testing.assert_array_equal(stored, [[0, 10, 20, 255]])
    np.testing.assert_allclose(codec.decode(stored), [[-0.5, 0.0, 0.5, 12.25]])
    assert Codec().encode(real, np.dtype(np.int8)) is None
    assert Codec().encode(real, np.dtype(np.float16)).dtype == np.float16  # type: ignore[union-attr]


def _pair(index: int, local: float | None) -> PairResult:
    return PairResult(index=index, a=f"a{index}", b=f"b{index}", a_tensor="", b_tensor="",
                      match="name", shape=None, max_abs=0.0, rel_l2=0.0, cosine=1.0,
                      snr_db=math.inf, local_rel_l2=local, local_max_abs=0.0)


def test_first_divergence_rules() -> None:
    pairs = [_pair(0, 1e-5), _pair(1, None), _pair(2, 2e-3), _pair(3, 0.5)]
    assert first_divergence(pairs, None, False)[:2] == (2, FLOAT_TOLERANCE)
    assert first_divergence(pairs, 0.1, False)[0] == 3
    quantized = [_pair(i, v) for i, v in enumerate([0.02, 0.03, 0.025, 0.4, 0.02])]
    index, threshold, rule = first_divergence(quantized, None, True)
    assert (index, threshold) == (3, pytest.approx(0.25)) and "median" in rule
    assert first_divergence([_pair(0, None)], None, False)[0] is None


def test_plan_windows_splits_within_the_budget() -> None:
    every = plan_windows([100, 100, 100], inputs=2, budget=10_000)
    assert every.name == "batch-by-batch" and every.windows == (3,) and every.keep_sessions
    assert not plan_windows([100, 100, 100], inputs=1, budget=10_000).keep_sessions
    tight = plan_windows([100, 100, 100], inputs=2, budget=1000)  # fits, but not kept
    assert tight.name == "batch-by-batch" and not tight.keep_sessions
    split = plan_windows([100, 100, 100, 50], inputs=1, budget=650)
    assert split.name == "layer-windows" and split.windows == (2, 2)
    assert split.estimated_bytes <= 650
    with pytest.raises(ResourceError, match="one layer pair"):
        plan_windows([1000], inputs=1, budget=10)


def _layer(index: int, name: str, tensor: str, channels: int = 8, op: str = "Conv"
           ) -> LayerInfo:
    return LayerInfo(index=index, name=name, op_type=op, node_name=name,
                     conv_output=tensor, activation=None, activation_op=None, tensor=tensor,
                     shape=None, channels=channels, kernel=(3, 3), stride=(1, 1),
                     dilation=(1, 1), group=1, spatial_rank=2, stage=0, receptive_field=None,
                     exposable=True)


def test_matching_names_quantised_suffixes_and_positions() -> None:
    assert normalized_name("/conv/Conv_quant") == "/conv/Conv"
    assert normalized_name("t_output_0_DequantizeLinear_Output") == "t_output_0"
    a = [_layer(0, "c0", "t0"), _layer(1, "c1", "t1"), _layer(2, "c2", "t2", 16)]
    b = [_layer(0, "c0_quant", "t0_quantized"), _layer(1, "x1", "t1_DequantizeLinear_Output"),
         _layer(2, "y2", "u2", 16)]
    pairs, rest_a, rest_b = match_layers(a, b)
    assert [(p.a.name, p.b.name, p.match) for p in pairs] == [
        ("c0", "c0_quant", "name"), ("c1", "x1", "name"), ("c2", "y2", "position")]
    assert rest_a == rest_b == []


def test_matching_drops_few_coincidental_names_of_unrelated_models() -> None:
    a = [_layer(i, f"Conv_{i}", f"conv{i}.tmp", 8 * (i + 1)) for i in range(6)]
    b = [_layer(i, f"p2o.Conv.{i}", f"other{i}.tmp", 5 + i) for i in range(6)]
    b[3] = _layer(3, "p2o.Conv.3", "conv3.tmp", 32)  # one generic name in common
    pairs, rest_a, rest_b = match_layers(a, b)
    assert pairs == [] and len(rest_a) == len(rest_b) == 6
