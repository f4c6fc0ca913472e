"""What the installed onnxruntime supports, probed once with tiny models.

onnxruntime does not export its maximum IR version or opset as constants; it
names them in the error it raises for a model that is too new. Probing once at
first use keeps the check correct for whichever onnxruntime is installed.
"""

from __future__ import annotations

import functools
import re

import onnx
from onnx import TensorProto, helper

_FALLBACK_IR = 10
_FALLBACK_OPSET = 21


def _identity_model(ir_version: int, opset: int) -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return bytes(model.SerializeToString())


def _probe_error(ir_version: int, opset: int) -> str:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        ort.InferenceSession(
            _identity_model(ir_version, opset), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # noqa: BLE001 - the message is the probe's answer
        return str(exc)
    return ""


@functools.cache
def max_ir_version() -> int:
    """Return the highest ONNX IR version the installed onnxruntime loads."""
    message = _probe_error(999, 13)
    match = re.search(r"max supported IR version:\s*(\d+)", message)
    return int(match.group(1)) if match else max(_FALLBACK_IR, onnx.IR_VERSION - 1)


@functools.cache
def max_opset() -> int:
    """Return the highest default-domain opset the installed onnxruntime officially supports."""
    message = _probe_error(8, 999)
    match = re.search(r"support for domain ai\.onnx is till opset (\d+)", message)
    return int(match.group(1)) if match else _FALLBACK_OPSET
