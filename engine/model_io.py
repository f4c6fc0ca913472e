"""Load and validate an ONNX file into a :class:`LoadedModel`.

Vendor models are untrusted: external weights are read only from inside the
model's folder, custom-op libraries are never loaded, and every failure becomes
a typed error with one sentence for the user.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import ModelProto, TensorProto

from engine import runtime_limits
from engine.errors import ExternalDataError, ModelLoadError, UnsupportedModelError
from engine.ops import BUILTIN_DOMAINS
from engine.types import Dim, ModelInfo, TensorInfo

MAX_MODEL_BYTES = 2 * 1024**3 - 1


@dataclass(frozen=True)
class LoadedModel:
    """A validated model: its card and its protobuf (never mutated)."""

    info: ModelInfo
    proto: ModelProto
    warnings: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        """The sha256 of the model file."""
        return self.info.sha256


def iter_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """Yield ``graph`` and every subgraph nested in its nodes' attributes."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from iter_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from iter_graphs(sub)


def iter_tensors(graph: onnx.GraphProto) -> Iterator[TensorProto]:
    """Yield every initializer and Constant-node tensor, subgraphs included."""
    for g in iter_graphs(graph):
        yield from g.initializer
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    yield attr.t
                elif attr.type == onnx.AttributeProto.TENSORS:
                    yield from attr.tensors


def dtype_name(elem_type: int) -> str:
    """Return the numpy-style name of an ONNX element type."""
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
    except (KeyError, ValueError, TypeError):
        return TensorProto.DataType.Name(elem_type).lower() if elem_type else "undefined"


def tensor_info(value: onnx.ValueInfoProto) -> TensorInfo:
    """Convert a graph input/output declaration to :class:`TensorInfo`."""
    ttype = value.type.tensor_type
    dims: list[Dim] = []
    if ttype.HasField("shape"):
        for d in ttype.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                dims.append(d.dim_param)
            else:
                dims.append(None)
    return TensorInfo(value.name, dtype_name(ttype.elem_type), tuple(dims))


def _looks_like_onnx_prefix(data: bytes) -> bool:
    """Whether ``data`` starts like a serialized ModelProto (field 1 = ir_version)."""
    if len(data) < 4 or data[0] != 0x08:
        return False
    ir = data[1]
    return 1 <= ir <= 30 and data[2] in (0x12, 0x1A, 0x22, 0x2A, 0x3A, 0x42, 0x4A, 0x52, 0x72)


def _parse(path: Path, data: bytes) -> ModelProto:
    if not data:
        raise ModelLoadError("The model file is empty.", str(path))
    model = ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        if _looks_like_onnx_prefix(data):
            raise ModelLoadError(
                "The model file is truncated or damaged: it starts like an ONNX model "
                "but cannot be read to the end.",
                f"{path}: {exc}",
            ) from exc
        raise ModelLoadError("The file is not an ONNX model.", f"{path}: {exc}") from exc
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise ModelLoadError("The file is not an ONNX model.", f"{path}: no IR version or graph")
    if len(model.graph.node) == 0:
        raise ModelLoadError("The model's graph is empty: it has no operators.", str(path))
    return model


def _safe_location(folder: Path, location: str) -> Path:
    """Resolve an external-data location, refusing anything outside ``folder``."""
    if not location:
        raise ExternalDataError("The model names an external weights file without a name.")
    pure = Path(location)
    if pure.is_absolute() or location.startswith(("/", "\\")) or ":" in location:
        raise ExternalDataError(
            "The model asks to read weights from an absolute path, which Featurescope refuses.",
            location,
        )
    if ".." in Path(location.replace("\\", "/")).parts:
        raise ExternalDataError(
            "The model asks to read weights from outside its folder, which Featurescope refuses.",
            location,
        )
    target = (folder / pure).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ExternalDataError(
            "The model's external weights file resolves outside the model's folder, "
            "which Featurescope refuses.",
            f"{location} -> {target}",
        )
    return target


def _check_external_data(model: ModelProto, folder: Path) -> tuple[str, ...]:
    files: dict[str, Path] = {}
    for tensor in iter_tensors(model.graph):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        target = _safe_location(folder, location)
        if not target.is_file():
            raise ExternalDataError(
                f"The model's weights file '{location}' is missing from the model's folder.",
                str(target),
            )
        offset = int(entries.get("offset", "0") or 0)
        length = int(entries.get("length", "0") or 0)
        if offset < 0 or length < 0 or offset + length > target.stat().st_size:
            raise ExternalDataError(
                f"The model's weights file '{location}' is shorter than the model says.",
                f"tensor {tensor.name}: offset {offset} + length {length} > "
                f"{target.stat().st_size} bytes",
            )
        files[location] = target
    if files:
        onnx.external_data_helper.load_external_data_for_model(model, str(folder))
    return tuple(sorted(files))


def _custom_domains(model: ModelProto) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    local_functions = {(f.domain, f.name) for f in model.functions}
    for g in iter_graphs(model.graph):
        for node in g.node:
            if node.domain in BUILTIN_DOMAINS or (node.domain, node.op_type) in local_functions:
                continue
            used.setdefault(node.domain, set()).add(node.op_type)
    return used


def _check_versions(model: ModelProto, path: Path) -> None:
    max_ir = runtime_limits.max_ir_version()
    if model.ir_version > max_ir:
        raise UnsupportedModelError(
            f"The model uses ONNX IR version {model.ir_version}, newer than this "
            f"onnxruntime supports (up to {max_ir}); update Featurescope.",
            str(path),
        )
    max_opset = runtime_limits.max_opset()
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > max_opset:
            raise UnsupportedModelError(
                f"The model needs ONNX opset {opset.version}, newer than this onnxruntime "
                f"supports (up to {max_opset}); update Featurescope.",
                str(path),
            )
        if opset.domain in ("", "ai.onnx") and opset.version < 1:
            raise UnsupportedModelError(
                f"The model declares an invalid ONNX opset version ({opset.version}).", str(path)
            )


def _model_info(path: Path, data: bytes, model: ModelProto, external: tuple[str, ...],
                custom: dict[str, set[str]]) -> ModelInfo:
    initializer_names = {t.name for t in model.graph.initializer}
    counts = Counter(n.op_type for g in iter_graphs(model.graph) for n in g.node)
    return ModelInfo(
        path=path,
        file_size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        ir_version=int(model.ir_version),
        opsets=tuple((o.domain or "ai.onnx", int(o.version)) for o in model.opset_import),
        producer_name=model.producer_name,
        producer_version=model.producer_version,
        graph_name=model.graph.name,
        doc_string=model.doc_string,
        metadata=tuple((p.key, p.value) for p in model.metadata_props),
        inputs=tuple(
            tensor_info(v) for v in model.graph.input if v.name not in initializer_names
        ),
        outputs=tuple(tensor_info(v) for v in model.graph.output),
        op_counts=tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        node_count=sum(counts.values()),
        external_data=external,
        custom_domains=tuple(sorted(custom)),
    )


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Read, parse and validate an ONNX model file.

    Parameters
    ----------
    path
        Path of a ``.onnx`` file. External weights, if any, must lie inside
        the same folder.

    Returns
    -------
    LoadedModel
        The model card and the protobuf with external data loaded in memory.

    Raises
    ------
    ModelLoadError
        Missing, unreadable, empty, truncated or non-ONNX file.
    ExternalDataError
        External weights missing, too short, or located outside the folder.
    UnsupportedModelError
        IR version or opset newer than onnxruntime supports; operators from a
        custom domain that needs a vendor library.
    """
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"The model file '{p.name}' does not exist.", str(p))
    if not p.is_file():
        raise ModelLoadError(f"'{p.name}' is not a file.", str(p))
    size = p.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise UnsupportedModelError(
            "The model file is larger than 2 GB; such models must keep weights in external data.",
            f"{size} bytes",
        )
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"The model file '{p.name}' cannot be read.", str(exc)) from exc
    model = _parse(p, data)
    _check_versions(model, p)
    external = _check_external_data(model, p.parent)
    custom = _custom_domains(model)
    if custom:
        ops = "; ".join(f"{d}: {', '.join(sorted(o))}" for d, o in sorted(custom.items()))
        raise UnsupportedModelError(
            f"The model uses custom operators ({ops}) that need a vendor library, "
            "which Featurescope does not load.",
            str(p),
        )
    warnings: list[str] = []
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - the checker raises assorted types on damaged models
        text = str(exc).strip()
        first = text.splitlines()[0] if text else f"validation failed ({type(exc).__name__})"
        warnings.append(f"onnx checker: {first}")
    info = _model_info(p.resolve(), data, model, external, custom)
    return LoadedModel(info=info, proto=model, warnings=tuple(warnings))
