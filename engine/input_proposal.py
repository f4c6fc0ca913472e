"""Propose a model's input spec from what the model itself says, with the reason for each choice.

Sources, in order: metadata keys that exporters write (Featurescope's own
``featurescope.input_spec``, Ultralytics ``imgsz``/``stride``/``names``/``task``,
PaddleOCR's ``character``), fixed graph dims, and preprocessing already inside
the graph (a leading Div by 255 or Sub of means: raw pixels go in). Metadata is
untrusted text: values are parsed as literals only (never evaluated), and size
limits apply.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, replace

import numpy as np
from onnx import ModelProto

from engine.graph.constants import ConstantTable
from engine.input_spec import METADATA_KEY, apply_preset, image_input, spec_from_model
from engine.model_io import LoadedModel
from engine.types import InputSpec, ModelInfo

#: Metadata values longer than this are ignored (untrusted input).
MAX_METADATA_CHARS = 2_000_000
#: Text-line recognisers: the height PP-OCRv3/v4 use, and the narrowest width they pad to.
TEXT_LINE_HEIGHT = 48
TEXT_LINE_MIN_WIDTH = 320
#: A ``character`` list longer than this is a recogniser's charset, not class names.
CHARSET_MIN = 32


@dataclass(frozen=True)
class SpecProposal:
    """A proposed input spec and why each part was chosen.

    ``reasons`` pairs a part (``size``, ``preset``, ``layout``, ``resize``,
    ``channels``) with one phrase, e.g. ``("size", "320x320 from metadata imgsz")``.
    """

    spec: InputSpec
    reasons: tuple[tuple[str, str], ...]

    def reason(self, part: str | None = None) -> str:
        """All reasons joined (or the one for ``part``), for a status line or a manifest."""
        chosen = [text for key, text in self.reasons if part is None or key == part]
        return "; ".join(chosen)


def literal(text: str | None) -> object:
    """A metadata value parsed as a Python/JSON literal (never evaluated), or None."""
    if not text or len(text) > MAX_METADATA_CHARS:
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return None


def metadata_names(info: ModelInfo) -> tuple[str, ...]:
    """Class names from metadata: Ultralytics ``names`` ({index: name} or a list)."""
    value = literal(info.metadata_value("names"))
    if isinstance(value, dict):
        try:
            indices = {int(k): str(v) for k, v in value.items()}
        except (TypeError, ValueError):
            return ()
        if indices and min(indices) >= 0 and max(indices) < 100_000:
            return tuple(indices.get(i, f"class {i}") for i in range(max(indices) + 1))
    if isinstance(value, list | tuple) and len(value) < 100_000:
        return tuple(str(v) for v in value)
    return ()


def metadata_characters(info: ModelInfo) -> tuple[str, ...]:
    """PaddleOCR's ``character`` list (one entry per line): a charset or class names."""
    text = info.metadata_value("character")
    if not text or len(text) > MAX_METADATA_CHARS:
        return ()
    return tuple(text.split("\n"))


def _ultralytics_size(info: ModelInfo) -> tuple[int, int] | None:
    value = literal(info.metadata_value("imgsz"))
    if isinstance(value, int):
        value = [value, value]
    if isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, int) and 1 <= v <= 8192 for v in value):
        return int(value[0]), int(value[1])
    return None


def _consumers(model: ModelProto, name: str) -> list[int]:
    return [i for i, node in enumerate(model.graph.node) if name in node.input]


def graph_scales_pixels(model: ModelProto, input_name: str) -> str:
    """How the graph normalises raw pixels itself, in words, or "" when it does not.

    Looks through leading Transpose/Cast nodes for a Div by ~255, a Mul by ~1/255
    or a Sub of per-channel means applied to the input.
    """
    constants = ConstantTable(model.graph)
    current = input_name
    for _ in range(4):
        users = _consumers(model, current)
        if len(users) != 1:
            return ""
        node = model.graph.node[users[0]]
        if node.op_type in ("Transpose", "Cast", "Identity") and node.output:
            current = node.output[0]
            continue
        other = next((i for i in node.input if i != current), None)
        value = constants.value(other) if other else None
        if value is None or value.size == 0:
            return ""
        flat = np.asarray(value, dtype=np.float64).reshape(-1)
        if node.op_type == "Div" and np.allclose(flat, 255.0, rtol=1e-3):
            return "the graph divides the input by 255 itself"
        if node.op_type == "Mul" and np.allclose(flat, 1 / 255.0, rtol=1e-3):
            return "the graph multiplies the input by 1/255 itself"
        if node.op_type == "Sub" and flat.size in (1, 3) and float(flat.max()) > 1.5:
            return "the graph subtracts pixel means itself"
        return ""
    return ""


def propose_input_spec(model: LoadedModel) -> SpecProposal:
    """The input spec the model itself suggests, with a reason for each part.

    Parameters
    ----------
    model
        A loaded model (its metadata and graph are read, nothing is run).

    Returns
    -------
    SpecProposal
        The spec (as :func:`engine.input_spec.spec_from_model` would give,
        refined by the hints found) and its reasons.
    """
    info = model.info
    spec = spec_from_model(info)
    tensor = image_input(info)
    reasons: list[tuple[str, str]] = []
    if tensor is None:
        return SpecProposal(spec, (("input", "the model has no image input"),))
    nchw = spec.layout == "NCHW"
    c, h, w = tensor.shape[1:] if nchw else (tensor.shape[3], *tensor.shape[1:3])
    reasons.append(("layout", f"{spec.layout} from the input shape {tensor.shape_text()}"))
    fixed = isinstance(h, int) and isinstance(w, int)
    if info.metadata_value(METADATA_KEY):
        reasons.append(("preset", f"{spec.preset} from metadata {METADATA_KEY}"))
        reasons.append(("size", f"{spec.height}x{spec.width} from metadata {METADATA_KEY}"
                        if not fixed else f"{spec.height}x{spec.width} fixed by the graph"))
        return SpecProposal(spec, tuple(reasons))
    ultra = _ultralytics_size(info)
    task = info.metadata_value("task")
    characters = metadata_characters(info)
    producer = info.producer_name.lower()
    in_graph = graph_scales_pixels(model.proto, tensor.name)
    if ultra is not None or task:
        spec = apply_preset(spec, "yolo")
        reasons.append(("preset", f"yolo (RGB 0..1, letterbox) from Ultralytics metadata "
                        f"task={task or '?'}"))
        if ultra is not None and not fixed:
            spec = replace(spec, height=ultra[0], width=ultra[1])
            reasons.append(("size", f"{ultra[0]}x{ultra[1]} from metadata imgsz"))
    elif characters or "paddle" in producer or any(
            isinstance(d, str) and d.startswith("p2o.") for d in tensor.shape):
        spec = apply_preset(spec, "paddle")
        why = "metadata character" if characters else "a paddle2onnx export"
        reasons.append(("preset", f"paddle (BGR, mean 0.5, std 0.5) from {why}"))
    elif in_graph and spec.dtype != "uint8":
        spec = apply_preset(spec, "raw")
        reasons.append(("preset", f"raw pixels 0..255: {in_graph}"))
    elif spec.dtype == "uint8":
        reasons.append(("preset", "raw pixels: the input is uint8"))
    else:
        reasons.append(("preset", "ImageNet convention assumed: the model gives no "
                        "preprocessing hint (check the vendor's documentation)"))
    text_line = len(characters) >= CHARSET_MIN and not isinstance(w, int)
    if text_line or (isinstance(h, int) and not isinstance(w, int) and h <= 64):
        height = h if isinstance(h, int) else TEXT_LINE_HEIGHT
        spec = replace(spec, height=height, width=max(TEXT_LINE_MIN_WIDTH, spec.width),
                       resize="keep_aspect")
        why = f"a charset of {len(characters)} symbols in metadata character" if text_line \
            else f"fixed height {height} and a free width"
        reasons.append(("resize", f"text line ({why}): height {height}, width from the aspect "
                        f"ratio, padded to at least {spec.width}"))
    elif fixed:
        reasons.append(("size", f"{h}x{w} fixed by the graph"))
    elif not any(key == "size" for key, _ in reasons):
        reasons.append(("size", f"{spec.height}x{spec.width}: the graph leaves the size free "
                        "(any size the network accepts works)"))
    if c == 1:
        reasons.append(("channels", "one-channel input: grayscale"))
    return SpecProposal(spec, tuple(reasons))
