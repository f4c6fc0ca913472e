"""Checks that each edge-case variant loads and runs, or fails, as intended."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests import variants
from tests.models import example_feeds


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="session")
def source() -> Path:
    """The real classifier variants derive from (efficientnet-lite0 or PP-LCNet)."""
    return variants.default_classifier()


@pytest.fixture(scope="session")
def reference(source: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Batch-1 feeds and the float32 model's output on them."""
    feeds = example_feeds(onnx.load(source), batch=1, free_dim=224)
    return feeds, _session(source).run(None, feeds)[0]


def _ops(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(path, load_external_data=False).graph.node}


def test_qdq_runs(source: Path, variants_dir: Path, reference: tuple) -> None:
    feeds, ref = reference
    path = variants.quantize_qdq(source, variants_dir)
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= _ops(path)
    assert _session(path).run(None, feeds)[0].shape == ref.shape


def test_qoperator_has_qlinearconv_and_runs(
    source: Path, variants_dir: Path, reference: tuple
) -> None:
    feeds, ref = reference
    path = variants.quantize_qoperator(source, variants_dir)
    assert "QLinearConv" in _ops(path)
    assert _session(path).run(None, feeds)[0].shape == ref.shape


@pytest.mark.parametrize("keep_io_types", [False, True])
def test_fp16_runs(source: Path, variants_dir: Path, reference: tuple, keep_io_types: bool) -> None:
    feeds, ref = reference
    path = variants.to_fp16(source, variants_dir, keep_io_types=keep_io_types)
    session = _session(path)
    expected = "tensor(float)" if keep_io_types else "tensor(float16)"
    assert session.get_inputs()[0].type == expected
    dtype = np.float32 if keep_io_types else np.float16
    out = session.run(None, {k: v.astype(dtype) for k, v in feeds.items()})[0]
    np.testing.assert_allclose(out.astype(np.float32), ref, atol=0.1)


def test_external_data_runs_identically(source: Path, variants_dir: Path, reference: tuple) -> None:
    feeds, ref = reference
    path = variants.with_external_data(source, variants_dir)
    data = path.parent / variants.EXTERNAL_LOCATION
    assert data.stat().st_size > 0.9 * source.stat().st_size
    assert path.stat().st_size < 0.1 * source.stat().st_size
    np.testing.assert_array_equal(_session(path).run(None, feeds)[0], ref)


def test_external_data_of_constant_node_model(
    real_model: Callable[[str], Path], variants_dir: Path
) -> None:
    src = real_model("ppocr_mobile_v2_textline_cls")  # Paddle: weights in Constant nodes
    path = variants.with_external_data(src, variants_dir)
    assert (path.parent / variants.EXTERNAL_LOCATION).stat().st_size > 400_000
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 3, 48, 192), np.float32)}
    np.testing.assert_allclose(
        _session(path).run(None, feeds)[0], _session(src).run(None, feeds)[0], atol=1e-6
    )


def test_missing_external_data_fails(source: Path, variants_dir: Path) -> None:
    path = variants.with_missing_external_data(source, variants_dir)
    assert not (path.parent / variants.EXTERNAL_LOCATION).exists()
    with pytest.raises(onnx.checker.ValidationError):
        onnx.load(path)
    with pytest.raises(Exception, match=r"[Ee]xternal data"):
        _session(path)


@pytest.mark.parametrize("absolute", [False, True])
def test_external_data_escape_is_refused(source: Path, variants_dir: Path, absolute: bool) -> None:
    path = variants.external_data_escape(source, variants_dir, absolute=absolute)
    if not absolute:
        assert (path.parent.parent / "secret.bin").is_file()
    with pytest.raises(onnx.checker.ValidationError):
        onnx.load(path)
    with pytest.raises(Exception, match=r"[Ee]xternal data"):
        _session(path)


def test_fixed_batch_reshape(source: Path, variants_dir: Path, reference: tuple) -> None:
    feeds, ref = reference
    path = variants.fixed_batch_reshape(source, variants_dir)
    session = _session(path)
    np.testing.assert_allclose(session.run(None, feeds)[0], ref, rtol=1e-5, atol=1e-6)
    doubled = {k: np.concatenate([v, v]) for k, v in feeds.items()}
    with pytest.raises(Exception, match=r"Reshape|Gemm|MatMul"):
        session.run(None, doubled)


def test_truncated_and_random_files_fail(source: Path, variants_dir: Path) -> None:
    cut = variants.truncated(source, variants_dir, 0.5)
    assert cut.stat().st_size == source.stat().st_size // 2
    noise = variants.random_bytes(variants_dir, 4096, seed=1)
    assert noise.read_bytes() == variants.random_bytes(variants_dir, 4096, 1).read_bytes()
    for path in (cut, noise):
        with pytest.raises(Exception):  # noqa: B017
            _session(path)
