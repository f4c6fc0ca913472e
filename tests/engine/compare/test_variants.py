"""The demo against its int8 (QDQ, QOperator, dynamic) and fp16 variants.

Accumulated figures are checked against numpy on maps extracted independently
(``extract_feature_maps`` and its own dequantisation), and one local error
against B's subgraph cut out with ``onnx.utils.extract_model`` and run on A's
activations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from engine.compare import ComparisonResult, compare_models, inputs_from_paths
from engine.featuremaps import extract_feature_maps
from engine.model_io import load_model
from engine.preprocess import prepare_input
from tests.engine.conftest import CHELSEA, DEMO_MODEL

_RESULTS: dict[str, ComparisonResult] = {}


def _compare(variant_path: Path, kind: str) -> ComparisonResult:
    if kind not in _RESULTS:
        a, b = load_model(DEMO_MODEL), load_model(variant_path)
        _RESULTS[kind] = compare_models(a, b, inputs_from_paths(a, b, [CHELSEA]),
                                        preference="cpu")
    return _RESULTS[kind]


@pytest.mark.parametrize("kind", ["qdq", "qoperator", "dynamic", "fp16"])
def test_every_layer_matches_its_float_counterpart(variant, kind: str) -> None:
    result = _compare(variant(kind), kind)
    assert len(result.pairs) == 49
    assert {p.match for p in result.pairs} == {"name"}
    assert result.unmatched_a == result.unmatched_b == ()
    assert [p.a for p in result.pairs] == [p.b.removesuffix("_quant") for p in result.pairs]
    assert all(p.rel_l2 is not None and p.local_rel_l2 is not None for p in result.pairs)
    first = result.pairs[0]  # nothing upstream: its local error is its accumulated error
    assert first.local_rel_l2 == pytest.approx(first.rel_l2, rel=1e-5)
    local = np.array([p.local_rel_l2 for p in result.pairs])
    accumulated = np.array([p.rel_l2 for p in result.pairs])
    assert np.median(local) < np.median(accumulated)
    assert result.outputs.top1_agreement is not None  # a classifier
    assert result.strategy.name == "batch-by-batch"


@pytest.mark.parametrize("kind", ["qdq", "qoperator", "dynamic"])
def test_quantised_b_diverges_at_ten_times_the_median_local_error(variant, kind: str) -> None:
    result = _compare(variant(kind), kind)
    assert result.b_quantized
    local = [p.local_rel_l2 for p in result.pairs if p.local_rel_l2 is not None]
    assert result.tolerance == pytest.approx(10 * float(np.median(local)))
    index = result.first_divergence
    limit = len(result.pairs) if index is None else index
    assert all(p.local_rel_l2 is not None and p.local_rel_l2 <= result.tolerance
               for p in result.pairs[:limit])
    if index is not None:
        assert result.pairs[index].local_rel_l2 > result.tolerance  # type: ignore[operator]


def test_fp16_is_close_and_judged_with_the_float_tolerance(variant) -> None:
    result = _compare(variant("fp16"), "fp16")
    assert not result.b_quantized and result.tolerance == 1e-3
    assert max(p.rel_l2 for p in result.pairs) < 1e-2  # type: ignore[type-var]
    assert min(p.cosine for p in result.pairs) > 0.9999  # type: ignore[type-var]
    assert result.outputs.top1_agreement == 1.0
    divergent = result.divergent_pair()
    assert divergent is None or divergent.local_rel_l2 > 1e-3  # type: ignore[operator]


@pytest.mark.parametrize("kind", ["fp16", "qoperator"])
def test_accumulated_figures_match_numpy_on_independently_extracted_maps(variant,
                                                                         kind: str) -> None:
    result = _compare(variant(kind), kind)
    a, b = load_model(DEMO_MODEL), load_model(variant(kind))
    maps_a = extract_feature_maps(a, prepare_input(a.info, CHELSEA), preference="cpu")
    prepared_b = prepare_input(b.info, CHELSEA, None)
    maps_b = extract_feature_maps(b, prepared_b, preference="cpu")
    for pair in (result.pairs[0], result.pairs[20], result.pairs[-1]):
        ref = maps_a.layer(pair.a).data.astype(np.float64)
        got = maps_b.layer(pair.b).data.astype(np.float64)
        d = got - ref
        assert pair.max_abs == pytest.approx(np.abs(d).max(), rel=1e-5, abs=1e-7)
        assert pair.rel_l2 == pytest.approx(np.linalg.norm(d) / np.linalg.norm(ref), rel=1e-5)
        cosine = np.sum(ref * got) / (np.linalg.norm(ref) * np.linalg.norm(got))
        assert pair.cosine == pytest.approx(cosine, rel=1e-6)
        snr = 10 * np.log10(np.sum(ref**2) / np.sum(d**2))
        assert pair.snr_db == pytest.approx(snr, rel=1e-5)
        d_norm = np.linalg.norm(d.reshape(len(d), -1), axis=1)
        ref_norm = np.linalg.norm(ref.reshape(len(ref), -1), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):  # dead channels: 0 / 0
            channels = np.where(ref_norm > 0, d_norm / ref_norm,
                                np.where(d_norm > 0, np.inf, 0.0))
        np.testing.assert_allclose(pair.per_channel_rel_l2, channels, rtol=1e-5)


def test_local_error_equals_bs_extracted_subgraph_run_on_as_activations(variant,
                                                                         tmp_path) -> None:
    path_b = variant("fp16")
    result = _compare(path_b, "fp16")
    a = load_model(DEMO_MODEL)
    proto_b = onnx.load(path_b)
    layer_tensors = {p.a_tensor for p in result.pairs}
    producer = {n.output[0]: n for n in proto_b.graph.node if n.output}
    pair = next(p for p in result.pairs[1:]
                if next(n for n in proto_b.graph.node if n.name == p.b).input[0] in layer_tensors)
    conv = next(n for n in proto_b.graph.node if n.name == pair.b)
    assert pair.b_tensor in producer
    cut = tmp_path / "cut.onnx"
    onnx.utils.extract_model(str(path_b), str(cut), [conv.input[0]], [pair.b_tensor])
    maps = extract_feature_maps(a, prepare_input(a.info, CHELSEA), preference="cpu")
    source = next(m for m in maps.layers if m.layer.tensor == conv.input[0])
    target = maps.layer(pair.a).data.astype(np.float64)
    session = ort.InferenceSession(str(cut), providers=["CPUExecutionProvider"])
    out = session.run(None, {conv.input[0]: source.data[None].astype(np.float16)})[0]
    local = np.linalg.norm(out[0].astype(np.float64) - target) / np.linalg.norm(target)
    assert pair.local_rel_l2 == pytest.approx(local, rel=1e-3)
