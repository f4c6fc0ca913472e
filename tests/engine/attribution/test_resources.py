"""Batch size from the memory budget, exact fp32, device-resident constants, prompt cancel."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine import budget
from engine import session as session_module
from engine.attribution import batch_size as batch_module
from engine.attribution.registry import run_attribution
from engine.attribution.types import AttributionRequest
from engine.budget import BatchMemory, estimate_batch_memory, largest_batch
from engine.cancellation import CancelToken
from engine.errors import Cancelled, ResourceError
from engine.providers import CPU, CUDA
from engine.session import EXACT_FP32, SessionCache, create_session
from engine.types import Progress
from tests import models
from tests._onnx_build import GraphBuilder, make_model, value_info
from tests.engine.attribution._helpers import attribute, npy_input, save_and_load


def _relu_chain() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["r1"]), helper.make_node("Relu", ["r1"], ["r2"])]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 1, 4, 4])],
        [helper.make_tensor_value_info("r2", TensorProto.FLOAT, ["b", 1, 4, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_batch_memory_counts_the_tensors_alive_together() -> None:
    # x and r1 (64 bytes each per item) are alive during the first Relu, r1 and r2 during
    # the second; each item also gets 4 image-sized copies (item_bytes = 64).
    memory = estimate_batch_memory(_relu_chain(), {"x": np.zeros((1, 1, 4, 4), np.float32)},
                                   ["x"], item_bytes=64)
    assert memory.inferred
    assert [memory.bytes(b) for b in (1, 2, 8)] == [384, 768, 3072]


def test_largest_batch_grows_shrinks_and_refuses() -> None:
    memory = BatchMemory(fixed=(100,), per_item=(10,), inferred=True)
    assert largest_batch(memory, 8, 32, 500, "x") == 32  # 420 bytes fit, 64 items would not
    assert largest_batch(memory, 8, 256, 500, "x") == 32
    assert largest_batch(memory, 8, 32, 150, "x") == 4  # 180 > 150: halved to 4 (140)
    assert largest_batch(memory, 16, 16, 10_000, "x") == 16  # never above the cap
    with pytest.raises(ResourceError) as err:
        largest_batch(memory, 8, 32, 105, "Attribution on this input")
    message = err.value.message
    assert message.startswith("Attribution on this input needs about")
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence


def test_gpu_budget_uses_the_gpu_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURESCOPE_MEMORY_SHARE", "0.5")
    allowed, where = batch_module.allowed_bytes(CUDA, lambda: (8_000_000_000, 80_000_000_000))
    assert allowed == 4_000_000_000 and "GPU" in where
    monkeypatch.setattr(budget, "available_memory", lambda: 1_000_000)
    assert batch_module.allowed_bytes(CUDA, lambda: None) == (500_000, "50% of available memory")
    assert batch_module.allowed_bytes(CPU)[0] == 500_000


def test_batch_size_follows_the_memory_budget(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    model = save_and_load(models.cnn2d(), tmp_path, "cnn2d")
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    memory = estimate_batch_memory(model.proto, {"input": x}, ["input"], x.nbytes)
    monkeypatch.setenv("FEATURESCOPE_MEMORY_SHARE", "1")
    params = {"window": 4, "stride": 4}  # 64 windows

    def run_with(available: int, batch: int | None = None) -> Any:
        monkeypatch.setattr(budget, "available_memory", lambda: available)
        return attribute(model, prepared, "occlusion", batch_size=batch, **params)

    grown = run_with(10**12)
    assert grown.batch_size == 32 and any("grown from 8" in n for n in grown.notes)
    assert run_with(10**12, batch=16).batch_size == 16  # a given size is not grown
    small = run_with(memory.bytes(2) + 1)
    assert small.batch_size == 2 and any("reduced from 8 to fit" in n for n in small.notes)
    np.testing.assert_allclose(small.heatmap, grown.heatmap, rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(budget, "available_memory", lambda: memory.bytes(1) - 1)
    seen: list[Progress] = []
    request = AttributionRequest("occlusion", params=tuple(params.items()))
    with pytest.raises(ResourceError) as err:
        run_attribution(model, prepared, request, "cpu", progress=seen.append)
    assert "for even one input at a time" in err.value.message
    assert seen == []  # refused before any perturbed batch was built


def test_exact_fp32_reaches_the_cuda_provider_and_keys_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime as ort

    asked: list[list[Any]] = []

    def fake_session(data: bytes, options: Any, providers: list[Any]) -> Any:
        asked.append(providers)
        return ort.InferenceSession(data, options, providers=[CPU])

    monkeypatch.setattr(session_module, "provider_list", lambda p: ([CUDA, CPU], ""))
    monkeypatch.setattr(session_module, "_quiet_session", fake_session)
    proto = models.cnn2d()
    create_session(proto, "cuda", cuda_options=EXACT_FP32)
    assert asked[-1] == [(CUDA, {"use_tf32": "0"}), CPU]
    cache = SessionCache()
    plain = cache.get("m", (), "auto", "all", lambda: proto)
    exact = cache.get("m", (), "auto", "all", lambda: proto, cuda_options={"use_tf32": 0})
    assert plain is not exact and asked[-2][0] == CUDA and asked[-1][0] == (CUDA, {"use_tf32": "0"})
    view = cache.with_cuda_options(EXACT_FP32)
    assert view.get("m", (), "auto", "all", lambda: proto) is exact
    assert len(asked) == 3  # both cached


def test_exact_fp32_on_cpu_is_a_recorded_no_op(tmp_path: Path) -> None:
    model = save_and_load(models.cnn2d(), tmp_path, "cnn2d")
    cache = SessionCache()
    one = cache.get(model.sha256, (), "cpu", "all", lambda: model.proto)
    assert cache.get(model.sha256, (), "cpu", "all", lambda: model.proto,
                     cuda_options=EXACT_FP32) is one  # no second session where CUDA is absent
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    request = AttributionRequest("occlusion", params=(("window", 8), ("stride", 8)),
                                 exact_fp32=True)
    exact = run_attribution(model, prepared, request, "cpu")
    default = attribute(model, prepared, "occlusion", window=8, stride=8)
    assert exact.exact_fp32 and not default.exact_fp32
    assert any("exact fp32 requested: no effect on CPUExecutionProvider" in n
               for n in exact.notes)
    np.testing.assert_array_equal(exact.heatmap, default.heatmap)


def test_resident_inputs_run_through_io_binding_on_cpu(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.attribution.context import Context

    session = create_session(models.linear(), "cpu")
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    resident = session.device_values({"input": x})
    np.testing.assert_array_equal(session.run({}, resident=resident)["score"],
                                  session.run({"input": x})["score"])

    model = save_and_load(models.cnn2d(), tmp_path, "cnn2d")
    prepared = npy_input(model, np.random.default_rng(1).standard_normal(
        (1, 3, 32, 32)).astype(np.float32), tmp_path)
    cases = [("occlusion", {"window": 8, "stride": 8}, None),
             ("score-cam", {"channels": 6}, "conv5"),
             ("rise", {"masks": 12}, None),
             ("ablation-cam", {"channels": 6}, "conv5")]
    expected = {m: attribute(model, prepared, m, layer=layer, **p) for m, p, layer in cases}
    bound: list[str] = []
    original = session_module.Session.run

    def spy(self: Any, feeds: Any, fetch: Any = None, cancel: Any = None,
            resident: Any = None) -> Any:
        if resident:
            bound.extend(resident)
        return original(self, feeds, fetch, cancel, resident)

    monkeypatch.setattr(session_module.Session, "run", spy)
    monkeypatch.setattr(Context, "keep_on_device", lambda self: True)
    for method, params, layer in cases:
        got = attribute(model, prepared, method, layer=layer, **params)
        np.testing.assert_allclose(got.heatmap, expected[method].heatmap, rtol=1e-5, atol=1e-6)
    assert {"fs_image", "fs_baseline", "fs_acts"} <= set(bound)


def _slow_model() -> onnx.ModelProto:
    """Forty 3x3 convolutions over 32 channels at 128x128: a batch of 32 takes seconds."""
    g = GraphBuilder(5)
    x = g.op("Relu", [g.conv("input", 3, 32, 3)])
    for _ in range(40):
        x = g.op("Relu", [g.conv(x, 32, 32, 3)])
    logits = g.head(x, 32, 4)
    graph = g.graph("slow", [value_info("input", ["batch", 3, 128, 128])],
                    [value_info("logits", ["batch", 4])], logits)
    return make_model(graph)


def test_cancel_interrupts_the_running_batch_within_a_second(tmp_path: Path) -> None:
    model = save_and_load(_slow_model(), tmp_path, "slow")
    x = np.random.default_rng(0).standard_normal((1, 3, 128, 128)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    token = CancelToken()
    cancelled_at: list[float] = []
    seen: list[Progress] = []

    def cancel_soon() -> None:
        time.sleep(0.3)
        cancelled_at.append(time.perf_counter())
        token.cancel()

    def progress(report: Progress) -> None:
        seen.append(report)
        if report.done == 0:
            threading.Thread(target=cancel_soon, daemon=True).start()

    request = AttributionRequest("occlusion", params=(("window", 16), ("stride", 16)),
                                 batch_size=32)
    with pytest.raises(Cancelled):
        run_attribution(model, prepared, request, "cpu", progress=progress, cancel=token)
    latency = time.perf_counter() - cancelled_at[0]
    assert latency < 1.0
    assert all(r.done == 0 for r in seen)  # the first batch was stopped, not finished
    again = attribute(model, prepared, "occlusion", window=128, stride=128)
    assert again.perturbation_passes == 1 and np.all(np.isfinite(again.heatmap))
