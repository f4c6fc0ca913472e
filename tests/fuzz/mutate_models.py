"""Seeded mutations of real ONNX models: bytes and protobuf fields set to absurd values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import ModelProto, TensorProto, helper


@dataclass(frozen=True)
class Case:
    """One fuzz input: a file and how it was made."""

    kind: str
    name: str
    path: Path
    input: Path | None = None


def _first(model: ModelProto, op: str) -> onnx.NodeProto | None:
    return next((n for n in model.graph.node if n.op_type == op), None)


def _weight(model: ModelProto) -> TensorProto | None:
    conv = _first(model, "Conv")
    names = set(conv.input[1:2]) if conv else set()
    return next((t for t in model.graph.initializer if t.name in names), None)


def _set_input_dim(value: int) -> Callable[[ModelProto], None]:
    def edit(model: ModelProto) -> None:
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[min(1, len(dims) - 1)].Clear()
        dims[min(1, len(dims) - 1)].dim_value = value
    return edit


def _billion_channels(model: ModelProto) -> None:
    weight = _weight(model)
    if weight is not None:
        weight.dims[0] = 2_000_000_000


def _empty_graph(model: ModelProto) -> None:
    del model.graph.node[:]


def _cycle(model: ModelProto) -> None:
    nodes = [n for n in model.graph.node if n.input]
    if len(nodes) > 2:
        nodes[1].input[0] = nodes[-1].output[0]


def _duplicate_output(model: ModelProto) -> None:
    nodes = model.graph.node
    if len(nodes) > 3:
        nodes[2].output[0] = nodes[1].output[0]


def _missing_tensor(model: ModelProto) -> None:
    conv = _first(model, "Conv")
    if conv is not None:
        conv.input[0] = "ghost_tensor_nobody_makes"


def _dangling_input(model: ModelProto) -> None:
    model.graph.input.append(helper.make_tensor_value_info("dangling", TensorProto.FLOAT, [3]))


def _wrong_initializer_size(model: ModelProto) -> None:
    weight = _weight(model)
    if weight is None:
        return
    if weight.raw_data:
        weight.raw_data = weight.raw_data[: len(weight.raw_data) // 2]
    else:
        del weight.float_data[len(weight.float_data) // 2:]


def _unknown_op(model: ModelProto) -> None:
    conv = _first(model, "Conv")
    if conv is not None:
        conv.op_type = "FrobnicateConv"


def _unknown_domain(model: ModelProto) -> None:
    conv = _first(model, "Conv")
    if conv is not None:
        conv.domain = "com.unknown.vendor"


def _opset(version: int) -> Callable[[ModelProto], None]:
    def edit(model: ModelProto) -> None:
        for opset in model.opset_import:
            if opset.domain in ("", "ai.onnx"):
                opset.version = version
    return edit


def _no_outputs(model: ModelProto) -> None:
    del model.graph.output[:]


def _bad_conv_attributes(model: ModelProto) -> None:
    conv = _first(model, "Conv")
    if conv is None:
        return
    del conv.attribute[:]
    conv.attribute.extend([helper.make_attribute("strides", [0, 0]),
                           helper.make_attribute("group", 7),
                           helper.make_attribute("kernel_shape", [99, 99])])


def _huge_value_info(model: ModelProto) -> None:
    conv = _first(model, "Conv")
    if conv is not None:
        model.graph.value_info.append(helper.make_tensor_value_info(
            conv.output[0], TensorProto.FLOAT, [1, 2**40, 2**20, 2**20]))


def _negative_ir(model: ModelProto) -> None:
    model.ir_version = -3


def _nan_weights(model: ModelProto) -> None:
    weight = _weight(model)
    if weight is not None and weight.raw_data:
        array = np.frombuffer(weight.raw_data, dtype=np.float32).copy()
        array[::3] = np.nan
        weight.raw_data = array.tobytes()


STRUCTURAL: dict[str, Callable[[ModelProto], None]] = {
    "input_dim_negative": _set_input_dim(-5),
    "input_dim_enormous": _set_input_dim(2**40),
    "conv_billions_of_channels": _billion_channels,
    "empty_graph": _empty_graph,
    "cycle": _cycle,
    "duplicate_tensor_name": _duplicate_output,
    "missing_tensor": _missing_tensor,
    "dangling_input": _dangling_input,
    "wrong_initializer_size": _wrong_initializer_size,
    "unknown_op": _unknown_op,
    "unknown_domain": _unknown_domain,
    "opset_1": _opset(1),
    "opset_99": _opset(99),
    "no_outputs": _no_outputs,
    "bad_conv_attributes": _bad_conv_attributes,
    "huge_declared_shape": _huge_value_info,
    "negative_ir_version": _negative_ir,
    "nan_weights": _nan_weights,
}


def structural_cases(source: Path, folder: Path, image: Path | None) -> Iterator[Case]:
    """Every structural mutation of ``source``, saved in ``folder``."""
    base = onnx.load_model(source)
    for name, edit in STRUCTURAL.items():
        model = ModelProto()
        model.CopyFrom(base)
        edit(model)
        path = folder / f"{source.stem}.{name}.onnx"
        path.write_bytes(model.SerializeToString())
        yield Case("model", f"{source.stem}:{name}", path, image)


def byte_cases(source: Path, folder: Path, image: Path | None, rng: np.random.Generator,
               truncations: int, flips: int) -> Iterator[Case]:
    """Truncations at random offsets and random byte flips of ``source``."""
    data = source.read_bytes()
    for offset in sorted(rng.integers(1, len(data), truncations).tolist()):
        path = folder / f"{source.stem}.cut{offset}.onnx"
        path.write_bytes(data[:offset])
        yield Case("model", f"{source.stem}:truncated@{offset}", path, image)
    for k in range(flips):
        mutated = bytearray(data)
        count = int(rng.integers(1, 16))
        for position in rng.integers(0, len(data), count).tolist():
            mutated[position] = int(rng.integers(0, 256))
        path = folder / f"{source.stem}.flip{k}.onnx"
        path.write_bytes(bytes(mutated))
        yield Case("model", f"{source.stem}:flip{k}x{count}", path, image)
