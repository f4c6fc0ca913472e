"""Fixtures for the engine tests: the demo model and derived edge-case files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests import variants

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
CHELSEA = ROOT / "resources" / "images" / "chelsea.png"
COFFEE = ROOT / "resources" / "images" / "coffee.png"

def _dynamic(src: Path, folder: Path) -> Path:
    """Dynamic int8 quantisation of the convs: ConvInteger -> Cast -> Mul -> Add -> Clip."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst = folder / f"{src.stem}.dynamic.onnx"
    quantize_dynamic(src, dst, weight_type=QuantType.QUInt8, op_types_to_quantize=["Conv"])
    return dst


_BUILDERS: dict[str, Callable[[Path, Path], Path]] = {
    "dynamic": _dynamic,
    "qdq": variants.quantize_qdq,
    "qoperator": variants.quantize_qoperator,
    "fp16": lambda src, d: variants.to_fp16(src, d, keep_io_types=False),
    "fp16_io32": lambda src, d: variants.to_fp16(src, d, keep_io_types=True),
    "external": variants.with_external_data,
    "external_missing": variants.with_missing_external_data,
    "external_escape": variants.external_data_escape,
    "external_absolute": lambda src, d: variants.external_data_escape(src, d, absolute=True),
    "fixed_batch": variants.fixed_batch_reshape,
    "truncated": lambda src, d: variants.truncated(src, d, 0.5),
    "random_bytes": lambda src, d: variants.random_bytes(d, 4096, 7),
}


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """The bundled EfficientNet-Lite0 demo model."""
    return DEMO_MODEL


@pytest.fixture(scope="session")
def chelsea() -> Path:
    """The bundled cat photo."""
    return CHELSEA


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Factory: ``variant(kind)`` builds (once per session) an edge-case file of the demo."""
    made: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in made:
            folder = tmp_path_factory.mktemp(kind)
            made[kind] = _BUILDERS[kind](DEMO_MODEL, folder)
        return made[kind]

    return get
