"""Shared pytest fixtures and markers for the Featurescope test suite.

The markers ``gpu``, ``slow`` and ``gui`` are registered in ``pyproject.toml``. Here,
``gpu`` tests are skipped unless a tiny onnxruntime session created with
CUDAExecutionProvider really keeps it in ``get_providers()`` and runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import real_models
from tests.models import TINY_MODELS, write_tiny_models


@functools.cache
def cuda_works() -> tuple[bool, str]:
    """Whether onnxruntime can really run on CUDA here, and why not.

    Returns
    -------
    tuple of (bool, str)
        ``(True, "")`` if a session with CUDAExecutionProvider keeps it and runs a tiny
        model, else ``(False, reason)``.
    """
    try:
        import onnxruntime as ort

        from tests.models import example_feeds, plain_cnn

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return False, "onnxruntime has no CUDAExecutionProvider"
        options = ort.SessionOptions()
        options.log_severity_level = 3
        model = plain_cnn()
        session = ort.InferenceSession(
            model.SerializeToString(),
            options,
            providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
        )
        if "CUDAExecutionProvider" not in session.get_providers():
            return False, "CUDAExecutionProvider did not initialise (no GPU or CUDA libs)"
        session.run(None, example_feeds(model))
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable GPU"
        return False, f"CUDA session failed: {exc}"
    return True, ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests when CUDA does not actually work."""
    del config
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    ok, reason = cuda_works()
    if not ok:
        skip = pytest.mark.skip(reason=f"gpu: {reason}")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def real_model() -> Callable[[str], Path]:
    """Factory: ``real_model(name)`` returns the verified cached path of a real model.

    Downloads on first use (see :mod:`tests.real_models`). A failed download or hash
    check raises, so the test fails with the reason; nothing is skipped.
    """

    def get(name: str) -> Path:
        if name not in real_models.REAL_MODELS:
            raise KeyError(f"{name!r} is not a real model; see tests.real_models")
        return real_models.fetch(name)

    return get


@pytest.fixture(scope="session")
def photo() -> Callable[[str], Path]:
    """Factory: ``photo(name)`` returns a verified cached test photo (chelsea, coffee...)."""

    def get(name: str) -> Path:
        if name not in real_models.PHOTOS:
            raise KeyError(f"{name!r} is not a photo; known: {sorted(real_models.PHOTOS)}")
        return real_models.fetch(name)

    return get


@pytest.fixture(scope="session")
def variants_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide folder for files made by :mod:`tests.variants`."""
    return tmp_path_factory.mktemp("variants")


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding every model of :data:`tests.models.TINY_MODELS` as ``<name>.onnx``."""
    folder = tmp_path_factory.mktemp("tiny_models")
    write_tiny_models(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tiny_models_dir: Path) -> Callable[[str], Path]:
    """Factory: ``tiny_model(name)`` returns the saved file of one tiny model."""

    def get(name: str) -> Path:
        if name not in TINY_MODELS:
            raise KeyError(f"{name!r} is not a tiny model; known: {sorted(TINY_MODELS)}")
        return tiny_models_dir / f"{name}.onnx"

    return get
