"""Run a fully convolutional model at another input size than the one it declares.

Some exports declare placeholder spatial dims (a face detector meant for whole
photos declaring 32x32). For a graph that is fully convolutional the declared
dims can be replaced: the input's dims are rewritten, stale shape annotations
dropped, shapes re-inferred, and the model is checked by running it once at the
new size; a graph that cannot take the size (a Flatten into a Gemm, a Reshape
to fixed dims) is refused with one sentence.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
from onnx import ModelProto

from engine.errors import EngineError, InputError
from engine.input_spec import detect_layout, image_input
from engine.model_io import LoadedModel, tensor_info
from engine.session import create_session


def with_input_dims(model: ModelProto, name: str, dims: tuple[int, ...]) -> ModelProto:
    """A copy of ``model`` whose input ``name`` declares ``dims`` (value_info dropped, and the
    outputs' dims left symbolic so shape inference recomputes them)."""
    new = ModelProto()
    new.CopyFrom(model)
    for value in new.graph.input:
        if value.name == name:
            shape = value.type.tensor_type.shape
            del shape.dim[:]
            for dim in dims:
                shape.dim.add().dim_value = int(dim)
    del new.graph.value_info[:]
    for output in new.graph.output:
        for index, dim in enumerate(output.type.tensor_type.shape.dim):
            dim.Clear()
            dim.dim_param = f"{output.name}_dim{index}"
    return new


def at_input_size(model: LoadedModel, height: int, width: int) -> tuple[LoadedModel, str]:
    """``model`` declaring an image input of ``height`` x ``width``, and a sentence saying so.

    Returns the model unchanged (and "") when its spatial dims are not fixed or
    already equal the size.

    Raises
    ------
    InputError
        The graph cannot run at that size (it is not fully convolutional).
    """
    tensor = image_input(model.info)
    if tensor is None:
        return model, ""
    nhwc = detect_layout(tensor.shape) == "NHWC"
    h_axis, w_axis = (1, 2) if nhwc else (2, 3)
    declared = (tensor.shape[h_axis], tensor.shape[w_axis])
    if not all(isinstance(d, int) for d in declared) or declared == (height, width):
        return model, ""
    dims = [d if isinstance(d, int) and d > 0 else 1 for d in tensor.shape]
    dims[h_axis], dims[w_axis] = height, width
    proto = with_input_dims(model.proto, tensor.name, tuple(dims))
    try:
        session = create_session(proto, "cpu")
        feeds = {i.name: np.zeros([d if isinstance(d, int) and d > 0 else 1
                                   for d in i.shape], dtype=np.float32)
                 for i in model.info.inputs}
        feeds[tensor.name] = np.zeros(dims, dtype=np.float32)
        session.run({n: v.astype(_dtype(model, n)) for n, v in feeds.items()})
    except EngineError as exc:
        raise InputError(f"The model declares a {declared[0]}x{declared[1]} input and cannot "
                         f"run at {height}x{width}: its graph is not fully convolutional.",
                         exc.one_line()) from exc
    digest = hashlib.sha256(f"{model.sha256}:input:{height}x{width}".encode()).hexdigest()
    inputs = tuple(tensor_info(v) for v in proto.graph.input
                   if v.name in {t.name for t in model.info.inputs})
    info = replace(model.info, sha256=digest, inputs=inputs)
    note = (f"the model declares a {declared[0]}x{declared[1]} input; its fully convolutional "
            f"graph was rewritten to take {height}x{width} and its shapes re-inferred")
    return replace(model, info=info, proto=proto), note


def _dtype(model: LoadedModel, name: str) -> str:
    tensor = next(t for t in model.info.inputs if t.name == name)
    return tensor.dtype if tensor.dtype in ("float32", "float16", "uint8", "int64", "int32",
                                            "float64") else "float32"
