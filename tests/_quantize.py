"""Static quantisation helper used by :mod:`tests.variants`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx

from tests._graph_edit import constants_to_initializers
from tests._onnx_build import example_feeds


class _Calibration:
    """CalibrationDataReader over a fixed list of feed dicts."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._feeds = list(feeds)
        self._iter: Iterator[dict[str, np.ndarray]] = iter(self._feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self._feeds)


def calibration_feeds(
    model: onnx.ModelProto, count: int = 4, seed: int = 0, free_dim: int = 224
) -> list[dict[str, np.ndarray]]:
    """Seeded random batch-1 feeds shaped like the model's inputs.

    Parameters
    ----------
    model : onnx.ModelProto
        Model whose inputs are fed.
    count : int
        Number of feed dicts.
    seed : int
        Seed of the first feed (the others use ``seed + k``).
    free_dim : int
        Size used for symbolic non-batch dims.

    Returns
    -------
    list of dict
        Feed dicts with standard-normal float tensors (normalised-image-like values).
    """
    return [example_feeds(model, batch=1, seed=seed + k, free_dim=free_dim) for k in range(count)]


def quantize(
    src: Path,
    dst: Path,
    qformat: str,
    feeds: Sequence[dict[str, np.ndarray]] | None,
) -> onnx.ModelProto:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    model = onnx.load(src)
    constants_to_initializers(model)  # the quantizer only quantizes initializer weights
    if feeds is None:
        feeds = calibration_feeds(model)
    with tempfile.TemporaryDirectory(prefix="fs-quant-", dir=dst.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        onnx.save_model(model, prepared)
        quantize_static(
            prepared,
            dst,
            _Calibration(feeds),
            quant_format=QuantFormat.QDQ if qformat == "qdq" else QuantFormat.QOperator,
            activation_type=QuantType.QInt8 if qformat == "qdq" else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    return onnx.load(dst)
