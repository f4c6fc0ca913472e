"""Small helpers for writing ONNX graphs by hand in tests (see :mod:`tests.models`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
"""Default ai.onnx opset of the tiny models."""

IR_VERSION = 8
"""Default IR version of the tiny models (widely supported by onnxruntime)."""

Dim = int | str | None


def value_info(
    name: str, shape: Sequence[Dim] | None, elem: int = TensorProto.FLOAT
) -> onnx.ValueInfoProto:
    """Return a tensor ValueInfoProto; ``shape=None`` leaves the shape unknown."""
    return helper.make_tensor_value_info(name, elem, None if shape is None else list(shape))


def make_model(
    graph: onnx.GraphProto,
    *,
    opset: int = OPSET,
    ir_version: int = IR_VERSION,
    extra_opsets: Sequence[tuple[str, int]] = (),
) -> onnx.ModelProto:
    """Wrap ``graph`` in a ModelProto with the given opsets and IR version."""
    imports = [helper.make_opsetid("", opset)]
    imports += [helper.make_opsetid(domain, version) for domain, version in extra_opsets]
    model = helper.make_model(graph, opset_imports=imports, producer_name="featurescope-tests")
    model.ir_version = ir_version
    return model


class GraphBuilder:
    """Accumulate nodes and seeded float32 initializers for one (sub)graph.

    Parameters
    ----------
    seed : int
        Seed of the numpy generator used for weights.
    prefix : str
        Prefix of generated tensor and node names (keeps subgraph names unique).
    """

    def __init__(self, seed: int, prefix: str = "") -> None:
        self.rng = np.random.default_rng(seed)
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._counts: dict[str, int] = {}

    def fresh(self, base: str) -> str:
        """Return a new unique name starting with ``prefix + base``."""
        n = self._counts.get(base, 0) + 1
        self._counts[base] = n
        return f"{self.prefix}{base}{n}"

    def const(self, base: str, array: np.ndarray) -> str:
        """Add an initializer holding ``array`` (dtype kept) and return its name."""
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        *,
        name: str | None = None,
        domain: str = "",
        **attrs: object,
    ) -> str:
        """Append a single-output node and return its output name."""
        node_name = name if name is not None else self.fresh(op_type.lower())
        output = f"{node_name}_out" if node_name else self.fresh(f"{op_type.lower()}_out")
        node = helper.make_node(
            op_type, list(inputs), [output], name=node_name, domain=domain, **attrs
        )
        self.nodes.append(node)
        return output

    def conv(
        self,
        x: str,
        cin: int,
        cout: int,
        kernel: int,
        *,
        dims: int = 2,
        stride: int = 1,
        pad: int | None = None,
        group: int = 1,
        name: str | None = None,
        weight: np.ndarray | None = None,
        bias: np.ndarray | None = None,
    ) -> str:
        """Append a Conv with He-scaled seeded weights (or the given ones)."""
        pad = kernel // 2 if pad is None else pad
        shape = (cout, cin // group, *([kernel] * dims))
        fan_in = (cin // group) * kernel**dims
        if weight is None:
            weight = self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        if bias is None:
            bias = self.rng.standard_normal(cout) * 0.1
        w = self.const("W", np.asarray(weight, dtype=np.float32))
        b = self.const("B", np.asarray(bias, dtype=np.float32))
        return self.op(
            "Conv",
            [x, w, b],
            name=name,
            kernel_shape=[kernel] * dims,
            strides=[stride] * dims,
            pads=[pad] * (2 * dims),
            group=group,
        )

    def conv_transpose(self, x: str, cin: int, cout: int, kernel: int, stride: int) -> str:
        """Append a 2-D ConvTranspose (upsampling by ``stride`` when kernel == stride)."""
        weight = self.rng.standard_normal((cin, cout, kernel, kernel)) / np.sqrt(cin)
        w = self.const("W", weight.astype(np.float32))
        b = self.const("B", (self.rng.standard_normal(cout) * 0.1).astype(np.float32))
        return self.op(
            "ConvTranspose",
            [x, w, b],
            name=self.fresh("deconv"),
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
        )

    def head(self, x: str, features: int, classes: int, *, name: str = "fc") -> str:
        """GlobalAveragePool, Flatten, then a Gemm to ``classes`` logits."""
        pooled = self.op("GlobalAveragePool", [x])
        flat = self.op("Flatten", [pooled], axis=1)
        return self.gemm(flat, features, classes, name=name)

    def gemm(self, x: str, features: int, classes: int, *, name: str = "fc") -> str:
        """Append ``Gemm(x, W^T, b)`` with W of shape [classes, features]."""
        weight = self.rng.standard_normal((classes, features)) / np.sqrt(features)
        w = self.const("fcW", weight.astype(np.float32))
        b = self.const("fcB", (self.rng.standard_normal(classes) * 0.1).astype(np.float32))
        return self.op("Gemm", [x, w, b], name=name, transB=1)

    def graph(
        self,
        name: str,
        inputs: Sequence[onnx.ValueInfoProto],
        outputs: Sequence[onnx.ValueInfoProto],
        last: str,
    ) -> onnx.GraphProto:
        """Rename tensor ``last`` to the single output's name and build the graph."""
        out_name = outputs[0].name
        for node in self.nodes:
            node.output[:] = [out_name if o == last else o for o in node.output]
            node.input[:] = [out_name if i == last else i for i in node.input]
        return helper.make_graph(
            self.nodes, name, list(inputs), list(outputs), initializer=self.initializers
        )


_NUMPY_OF = {
    TensorProto.FLOAT: np.float32,
    TensorProto.FLOAT16: np.float16,
    TensorProto.DOUBLE: np.float64,
    TensorProto.INT64: np.int64,
    TensorProto.INT32: np.int32,
    TensorProto.UINT8: np.uint8,
    TensorProto.INT8: np.int8,
    TensorProto.BOOL: np.bool_,
}


def example_feeds(
    model: onnx.ModelProto, batch: int = 1, seed: int = 0, free_dim: int = 32
) -> dict[str, np.ndarray]:
    """Seeded random inputs for every graph input of ``model``.

    The first dim of each input becomes ``batch`` when it is symbolic or unknown; other
    symbolic or unknown dims become ``free_dim``. Floats are standard normal, integers
    are zeros.

    Parameters
    ----------
    model : onnx.ModelProto
        Model whose graph inputs (minus initializers) are fed.
    batch : int
        Batch size for a symbolic leading dim.
    seed : int
        Seed of the numpy generator.
    free_dim : int
        Size for other symbolic dims.

    Returns
    -------
    dict of str to numpy.ndarray
        Feed dictionary for ``InferenceSession.run``.
    """
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    feeds: dict[str, np.ndarray] = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        ttype = inp.type.tensor_type
        shape = []
        for k, dim in enumerate(ttype.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                shape.append(dim.dim_value)
            else:
                shape.append(batch if k == 0 else free_dim)
        dtype = _NUMPY_OF.get(ttype.elem_type, np.float32)
        if np.issubdtype(dtype, np.floating):
            feeds[inp.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[inp.name] = np.zeros(shape, dtype)
    return feeds
