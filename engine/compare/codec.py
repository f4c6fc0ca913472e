"""Real values of exposed tensors: dequantise integer maps, quantise float ones back.

A quantised model carries integer activations (QLinearConv's uint8 output) whose
real value is ``(q - zero_point) * scale``, with the scale and zero point being
inputs of the producing node. Comparisons happen on real values; feeding A's
activations into B (local error) needs the reverse, B's own quantisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from engine.graph.constants import ConstantTable

#: Input indices of the output scale and zero point of ops producing integer tensors.
_OUTPUT_QUANT: dict[str, tuple[int, int]] = {
    "QLinearConv": (6, 7), "QLinearMatMul": (6, 7), "QLinearAdd": (6, 7), "QLinearMul": (6, 7),
    "QuantizeLinear": (1, 2), "QLinearGlobalAveragePool": (3, 4), "QLinearAveragePool": (3, 4),
    "QLinearSigmoid": (3, 4), "QLinearLeakyRelu": (3, 4), "QLinearConcat": (0, 1),
}


@dataclass(frozen=True)
class Codec:
    """How one tensor's stored values map to real values.

    ``scale`` is None for float tensors (their values are real already).
    """

    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    axis: int = 1

    def _broadcast(self, value: np.ndarray, ndim: int) -> np.ndarray:
        if value.ndim == 0 or value.size == 1 or ndim == 0:
            return value.reshape(())
        shape = [1] * ndim
        shape[self.axis % ndim] = value.size
        return value.reshape(shape)

    def decode(self, value: np.ndarray) -> np.ndarray:
        """Real values (float32) of ``value``."""
        array = np.asarray(value)
        if array.dtype.kind not in "iu" or self.scale is None:
            return array.astype(np.float32, copy=False)
        scale = self._broadcast(self.scale.astype(np.float32), array.ndim)
        zero = 0.0 if self.zero_point is None else self._broadcast(
            self.zero_point.astype(np.float32), array.ndim)
        real: np.ndarray = ((array.astype(np.float32) - zero) * scale).astype(np.float32)
        return real

    def encode(self, real: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
        """``real`` in the stored form ``dtype`` (None when an integer scale is unknown)."""
        kind = np.dtype(dtype)
        if kind.kind == "f":
            return np.ascontiguousarray(real, dtype=kind)
        if kind.kind not in "iu" or self.scale is None:
            return None
        scale = self._broadcast(self.scale.astype(np.float32), real.ndim)
        zero = 0.0 if self.zero_point is None else self._broadcast(
            self.zero_point.astype(np.float32), real.ndim)
        info = np.iinfo(kind)
        quantized = np.rint(np.asarray(real, dtype=np.float32) / scale) + zero
        return np.ascontiguousarray(np.clip(quantized, info.min, info.max).astype(kind))


class CodecTable:
    """Codecs of a model's tensors, read from the producing nodes.

    Parameters
    ----------
    model
        The model whose tensors are decoded.
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        self._constants = ConstantTable(model.graph)
        self._producer = {out: node for node in model.graph.node for out in node.output if out}

    def codec(self, tensor: str) -> Codec:
        """The codec of ``tensor`` (plain float when it is not quantised)."""
        node = self._producer.get(tensor)
        if node is None or node.op_type not in _OUTPUT_QUANT:
            return Codec()
        scale_at, zero_at = _OUTPUT_QUANT[node.op_type]
        inputs = list(node.input)
        scale = self._constants.value(inputs[scale_at]) if len(inputs) > scale_at else None
        if scale is None:
            return Codec()
        zero = (self._constants.value(inputs[zero_at])
                if len(inputs) > zero_at and inputs[zero_at] else None)
        axis = 1
        for attr in node.attribute:
            if attr.name == "axis":
                axis = int(attr.i)
        return Codec(scale=np.asarray(scale), zero_point=None if zero is None else np.asarray(zero),
                     axis=axis)
