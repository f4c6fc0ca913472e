"""A ResNet-50 with seeded random weights, built as ONNX with ``onnx.helper`` (no torch).

Topology: torchvision's ``resnet50()`` (v1.5: the stride sits on the 3x3 conv of each
bottleneck): 7x7/2 stem conv, 3x3/2 max pool, bottleneck stages [3, 4, 6, 3] with
widths 64/128/256/512 (x4 expansion), global average pool, fc 1000.

Weights: He-normal convs (std sqrt(2 / fan_in)), then BatchNorm parameters that are
random but sane: the running mean and variance are measured by a numpy forward pass on
seeded noise (each BN sees what it would see in eval mode, so activations stay O(1)
through all 16 blocks instead of growing with every residual add), jittered, with random
gamma / beta. The ONNX graph folds each BN into its conv (Conv -> Relu pairs, as torch's
exporter emits them); :meth:`ResNet50Weights.state_dict` returns the unfolded arrays under
torchvision's names, so ``torchvision.models.resnet50().load_state_dict`` gives the same
network (the suite checks the logits).

Tensor names follow torch's exporter: ``/layer4/layer4.2/conv3/Conv_output_0`` is the last
conv of layer4 (feeding the residual Add), ``/layer4/layer4.2/relu_2/Relu_output_0`` is
layer4's last block output (the Relu after the Add; torchvision ``model.layer4[-1]``, the
Score-CAM layer of ``gpu_suite.py`` and ``compare_reference.py``), ``logits`` the output.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # width, blocks, stride
EXPANSION = 4
CLASSES = 1000
BN_EPS = 1e-5
OPSET = 17
IR_VERSION = 8  # onnxruntime 1.2x reads IR <= 13; onnx >= 1.23 writes 14 by default
CALIBRATION_SHAPE = (4, 3, 64, 64)
INPUT_NAME, OUTPUT_NAME = "input", "logits"
LAST_CONV_NODE = "/layer4/layer4.2/conv3/Conv"
LAST_CONV_TENSOR = "/layer4/layer4.2/conv3/Conv_output_0"
BLOCK_OUTPUT_TENSOR = "/layer4/layer4.2/relu_2/Relu_output_0"


@dataclass(frozen=True)
class ConvUnit:
    """One conv + BN pair, by torchvision module names."""

    conv: str  # e.g. "layer1.0.conv1"
    bn: str  # e.g. "layer1.0.bn1"
    cin: int
    cout: int
    kernel: int
    stride: int
    role: str  # "main" (followed by ReLU), "last" (conv3 before the Add), "downsample"

    @property
    def pad(self) -> int:
        return self.kernel // 2


@dataclass
class ResNet50Weights:
    """Unfolded weights: conv kernels, BN (gamma, beta, mean, var), fc; float32."""

    convs: dict[str, np.ndarray] = field(default_factory=dict)
    bns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict)
    fc_weight: np.ndarray = field(default_factory=lambda: np.zeros((CLASSES, 2048), np.float32))
    fc_bias: np.ndarray = field(default_factory=lambda: np.zeros(CLASSES, np.float32))
    seed: int = 0

    def folded(self, unit: ConvUnit) -> tuple[np.ndarray, np.ndarray]:
        """The conv kernel and bias with the BN folded in (float64 arithmetic, float32 out)."""
        gamma, beta, mean, var = (v.astype(np.float64) for v in self.bns[unit.bn])
        scale = gamma / np.sqrt(var + BN_EPS)
        kernel = self.convs[unit.conv].astype(np.float64) * scale[:, None, None, None]
        return kernel.astype(np.float32), (beta - mean * scale).astype(np.float32)

    def state_dict(self) -> dict[str, np.ndarray]:
        """torchvision ``resnet50()`` state_dict names to arrays (unfolded BN)."""
        out: dict[str, np.ndarray] = {}
        for unit in units():
            out[f"{unit.conv}.weight"] = self.convs[unit.conv]
            gamma, beta, mean, var = self.bns[unit.bn]
            out.update({f"{unit.bn}.weight": gamma, f"{unit.bn}.bias": beta,
                        f"{unit.bn}.running_mean": mean, f"{unit.bn}.running_var": var})
        out["fc.weight"], out["fc.bias"] = self.fc_weight, self.fc_bias
        return out

    def parameter_count(self) -> int:
        """Learnable parameters as torchvision counts them (25,557,032 for ResNet-50)."""
        convs = sum(w.size for w in self.convs.values())
        bns = sum(2 * v[0].size for v in self.bns.values())
        return int(convs + bns + self.fc_weight.size + self.fc_bias.size)


def units() -> Iterator[ConvUnit]:
    """Every conv + BN of the network in forward order (downsample after conv3)."""
    yield ConvUnit("conv1", "bn1", 3, 64, 7, 2, "main")
    cin = 64
    for stage, (width, blocks, stride) in enumerate(STAGES, start=1):
        for block in range(blocks):
            p = f"layer{stage}.{block}"
            s = stride if block == 0 else 1
            out = width * EXPANSION
            yield ConvUnit(f"{p}.conv1", f"{p}.bn1", cin, width, 1, 1, "main")
            yield ConvUnit(f"{p}.conv2", f"{p}.bn2", width, width, 3, s, "main")
            yield ConvUnit(f"{p}.conv3", f"{p}.bn3", width, out, 1, 1, "last")
            if block == 0:
                yield ConvUnit(f"{p}.downsample.0", f"{p}.downsample.1", cin, out, 1, s,
                               "downsample")
            cin = out


# --------------------------------------------------------------------------------------
# numpy forward pass (calibration of the BN statistics only)
# --------------------------------------------------------------------------------------

def _conv(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[2]
    if k == 1:
        cols = x[:, :, ::stride, ::stride]
        return np.asarray(np.einsum("nchw,oc->nohw", cols, w[:, :, 0, 0], optimize=True))
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]
    return np.asarray(np.einsum("nchwij,ocij->nohw", win, w, optimize=True))


def _maxpool(x: np.ndarray) -> np.ndarray:
    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    return win.max(axis=(-1, -2))


def make_weights(seed: int = 0) -> ResNet50Weights:
    """Seeded He-normal convs, BN stats measured on seeded noise then jittered, random fc."""
    rng = np.random.default_rng(seed)
    weights = ResNet50Weights(seed=seed)
    for unit in units():
        fan_in = unit.cin * unit.kernel * unit.kernel
        weights.convs[unit.conv] = (rng.standard_normal(
            (unit.cout, unit.cin, unit.kernel, unit.kernel)) * np.sqrt(2.0 / fan_in)
        ).astype(np.float32)
    x = rng.standard_normal(CALIBRATION_SHAPE).astype(np.float32)

    def bn(unit: ConvUnit, value: np.ndarray) -> np.ndarray:
        """Measure, jitter and store this unit's BN; apply it in eval mode."""
        mean = value.mean(axis=(0, 2, 3))
        var = value.var(axis=(0, 2, 3))
        std = np.sqrt(var)
        mean = mean + 0.05 * std * rng.standard_normal(mean.shape)
        var = var * rng.uniform(0.8, 1.25, var.shape) + 1e-3
        low, high = (0.2, 0.5) if unit.role == "last" else (0.6, 1.2)
        gamma = rng.uniform(low, high, mean.shape)
        beta = rng.normal(0.0, 0.1, mean.shape)
        stored = [a.astype(np.float32) for a in (gamma, beta, mean, var)]
        weights.bns[unit.bn] = (stored[0], stored[1], stored[2], stored[3])
        g, b, m, v = (a[None, :, None, None] for a in stored)
        return np.asarray(((value - m) / np.sqrt(v + BN_EPS) * g + b), np.float32)

    def conv_bn(unit: ConvUnit, value: np.ndarray) -> np.ndarray:
        return bn(unit, _conv(value, weights.convs[unit.conv], unit.stride, unit.pad))

    all_units = list(units())
    x = _maxpool(np.maximum(conv_bn(all_units[0], x), 0.0))
    i = 1
    while i < len(all_units):
        c1, c2, c3 = all_units[i:i + 3]
        i += 3
        identity = x
        if i < len(all_units) and all_units[i].role == "downsample":
            identity = conv_bn(all_units[i], x)
            i += 1
        y = np.maximum(conv_bn(c1, x), 0.0)
        y = np.maximum(conv_bn(c2, y), 0.0)
        x = np.maximum(conv_bn(c3, y) + identity, 0.0)
    weights.fc_weight = (rng.standard_normal((CLASSES, 2048)) / np.sqrt(2048.0)).astype(
        np.float32)
    weights.fc_bias = rng.normal(0.0, 0.01, CLASSES).astype(np.float32)
    return weights


# --------------------------------------------------------------------------------------
# ONNX graph
# --------------------------------------------------------------------------------------

def build_onnx(weights: ResNet50Weights, height: int = 224, width: int = 224,
               dtype: str = "float32") -> Any:
    """The network as an ONNX ModelProto: input [N, 3, H, W], output ``logits`` [N, 1000].

    ``dtype`` ``float16`` stores every weight in float16 and declares float16 input and
    output (the whole graph computes in float16; BN is folded in float64 first).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    np_type = {"float32": np.float32, "float16": np.float16}[dtype]
    elem = TensorProto.FLOAT if dtype == "float32" else TensorProto.FLOAT16
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def init(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value.astype(np_type), name))
        return name

    def node(op: str, name: str, inputs: list[str], output: str | None = None,
             **attrs: Any) -> str:
        out = output or f"{name}_output_0"
        nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv(unit: ConvUnit, x: str, scope: str) -> str:
        kernel, bias = weights.folded(unit)
        return node("Conv", f"{scope}/Conv",
                    [x, init(f"{unit.conv}.weight", kernel), init(f"{unit.conv}.bias", bias)],
                    kernel_shape=[unit.kernel] * 2, strides=[unit.stride] * 2,
                    pads=[unit.pad] * 4)

    all_units = list(units())
    x = conv(all_units[0], INPUT_NAME, "/conv1")
    x = node("Relu", "/relu/Relu", [x])
    x = node("MaxPool", "/maxpool/MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2],
             pads=[1, 1, 1, 1])
    i = 1
    while i < len(all_units):
        c1, c2, c3 = all_units[i:i + 3]
        i += 3
        stage, block = c1.conv.split(".")[:2]
        scope = f"/{stage}/{stage}.{block}"
        identity = x
        if i < len(all_units) and all_units[i].role == "downsample":
            identity = conv(all_units[i], x, f"{scope}/downsample/downsample.0")
            i += 1
        y = node("Relu", f"{scope}/relu/Relu", [conv(c1, x, f"{scope}/conv1")])
        y = node("Relu", f"{scope}/relu_1/Relu", [conv(c2, y, f"{scope}/conv2")])
        y = node("Add", f"{scope}/Add", [conv(c3, y, f"{scope}/conv3"), identity])
        x = node("Relu", f"{scope}/relu_2/Relu", [y])
    x = node("GlobalAveragePool", "/avgpool/GlobalAveragePool", [x])
    x = node("Flatten", "/Flatten", [x], axis=1)
    node("Gemm", "/fc/Gemm", [x, init("fc.weight", weights.fc_weight),
                               init("fc.bias", weights.fc_bias)], OUTPUT_NAME, transB=1)
    graph = helper.make_graph(
        nodes, f"resnet50_random_seed{weights.seed}",
        [helper.make_tensor_value_info(INPUT_NAME, elem, ["N", 3, height, width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, elem, ["N", CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="featurescope-benchmarks", ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    return model


def load_into_torchvision(weights: ResNet50Weights) -> Any:
    """``torchvision.models.resnet50()`` in eval mode holding exactly these weights."""
    return torchvision_from_state(weights.state_dict())


def torchvision_from_state(arrays: dict[str, np.ndarray]) -> Any:
    """``torchvision.models.resnet50()`` in eval mode holding these state_dict arrays.

    ``arrays`` as :meth:`ResNet50Weights.state_dict` gives them (or as read back from an
    ``.npz`` of it, in another interpreter); every key must match in name and shape.
    """
    import torch
    import torchvision

    model = torchvision.models.resnet50(weights=None)
    state = model.state_dict()
    missing = sorted(k for k in state if k not in arrays and not k.endswith("num_batches_tracked"))
    extra = sorted(k for k in arrays if k not in state)
    if missing or extra:
        raise ValueError(f"state_dict mismatch: missing {missing[:5]}, unexpected {extra[:5]}")
    for key, value in arrays.items():
        if tuple(state[key].shape) != value.shape:
            raise ValueError(f"{key}: torchvision {tuple(state[key].shape)}, ours {value.shape}")
        state[key] = torch.from_numpy(np.ascontiguousarray(value))
    model.load_state_dict(state)
    return model.eval()
