"""Data tables: which ops are convolutions and which activations follow them."""

from __future__ import annotations

#: Convolution-like ops, with the input index of their weight tensor and
#: whether their output is quantised (integer).
CONV_OPS: dict[str, dict[str, object]] = {
    "Conv": {"weight_input": 1, "quantized": False},
    "ConvTranspose": {"weight_input": 1, "quantized": False},
    "QLinearConv": {"weight_input": 3, "quantized": True},
    "ConvInteger": {"weight_input": 1, "quantized": True},
}

#: Element-wise activations that directly follow a conv and are shown in its place.
ACTIVATION_OPS: frozenset[str] = frozenset(
    {
        "Relu",
        "Clip",
        "LeakyRelu",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        "PRelu",
        "Elu",
        "Selu",
        "Tanh",
        "Softplus",
        "Mish",
        "Gelu",
    }
)

#: Ops that can sit between a conv and its activation without changing the
#: meaning of "the conv's output" (batch-norm left unfused by some exporters).
PASS_THROUGH_OPS: frozenset[str] = frozenset({"BatchNormalization"})

#: Ops whose subgraphs are control flow: convs inside are listed, not exposed.
CONTROL_FLOW_OPS: frozenset[str] = frozenset({"If", "Loop", "Scan"})

#: Ops that change the spatial grid, with how the receptive field propagates:
#: "kernel" ops read kernel_shape/strides/pads/dilations attributes; "global"
#: ops cover the whole input.
POOL_OPS: frozenset[str] = frozenset({"MaxPool", "AveragePool", "LpPool"})
GLOBAL_POOL_OPS: frozenset[str] = frozenset(
    {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}
)

#: ONNX element types by TensorProto enum name, as numpy dtype names.
ONNX_TO_NUMPY: dict[str, str] = {
    "FLOAT": "float32",
    "FLOAT16": "float16",
    "DOUBLE": "float64",
    "BFLOAT16": "bfloat16",
    "UINT8": "uint8",
    "INT8": "int8",
    "UINT16": "uint16",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
    "STRING": "str",
}

#: Domains onnxruntime implements without a custom-op library.
BUILTIN_DOMAINS: frozenset[str] = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc", "ai.onnx.training",
     "ai.onnx.preview.training", "com.microsoft.experimental", "com.ms.internal.nhwc",
     "org.pytorch.aten", "com.microsoft.dml"}
)
