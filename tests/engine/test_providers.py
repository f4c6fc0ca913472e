"""Provider choice: the provider that really ran is read back, with a reason otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ProviderError
from engine.featuremaps import extract_feature_maps
from engine.model_io import load_model
from engine.preprocess import prepare_input
from engine.providers import cuda_status, provider_list
from engine.session import SessionCache, create_session
from tests.models import plain_cnn


def test_cpu_forced() -> None:
    session = create_session(plain_cnn(), "cpu")
    assert session.info.provider == "CPUExecutionProvider"
    assert session.info.fallback_reason == "CPU chosen by the user"
    assert provider_list("cpu") == (["CPUExecutionProvider"], "CPU chosen by the user")


def test_auto_reads_back_the_real_provider() -> None:
    session = create_session(plain_cnn(), "auto")
    assert session.info.provider == session.session.get_providers()[0]
    if session.info.provider != "CUDAExecutionProvider":
        assert session.info.fallback_reason  # says why CUDA is not used
        assert not cuda_status().usable or "fell back" in session.info.fallback_reason


def test_cuda_demanded_without_gpu() -> None:
    if cuda_status().usable:
        pytest.skip("CUDA is usable here")
    with pytest.raises(ProviderError) as err:
        create_session(plain_cnn(), "cuda")
    assert err.value.message.startswith("CUDA was requested but cannot be used: ")


def test_session_cache_reuses() -> None:
    cache = SessionCache(capacity=2)
    model = plain_cnn()
    first = cache.get("h", ("a",), "cpu", "all", lambda: model)
    assert cache.get("h", ("a",), "cpu", "all", lambda: model) is first
    assert cache.get("h", ("b",), "cpu", "all", lambda: model) is not first


@pytest.mark.gpu
def test_demo_maps_on_cuda(demo_model: Path, chelsea: Path) -> None:
    model = load_model(demo_model)
    result = extract_feature_maps(model, prepare_input(model.info, chelsea), preference="cuda")
    assert result.run.provider == "CUDAExecutionProvider"
    assert result.check.passed
