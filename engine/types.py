"""Plain frozen dataclasses that cross the engine boundary.

The GUI, the CLI and the tests exchange only these objects with the engine.
Arrays inside them are never modified after construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

Dim = int | str | None
Layout = Literal["NCHW", "NHWC"]
ResizeMode = Literal["stretch", "letterbox", "center_crop", "keep_aspect"]
#: Every resize mode, for forms and flags (``keep_aspect``: fixed height, width from the
#: aspect ratio, right-padded up to the spec's width; for text-line models).
RESIZE_MODES: tuple[ResizeMode, ...] = ("stretch", "letterbox", "center_crop", "keep_aspect")
ChannelOrder = Literal["RGB", "BGR"]
Scale = Literal["0..1", "0..255", "-1..1"]


@dataclass(frozen=True)
class TensorInfo:
    """Name, element type and declared shape of a graph input or output."""

    name: str
    dtype: str
    shape: tuple[Dim, ...]

    def shape_text(self) -> str:
        """Return the shape as text, symbolic dims by name and unknown ones as ``?``."""
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"


@dataclass(frozen=True)
class ModelInfo:
    """The model card: everything known about a model without running it."""

    path: Path
    file_size: int
    sha256: str
    ir_version: int
    opsets: tuple[tuple[str, int], ...]
    producer_name: str
    producer_version: str
    graph_name: str
    doc_string: str
    metadata: tuple[tuple[str, str], ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    op_counts: tuple[tuple[str, int], ...]
    node_count: int
    external_data: tuple[str, ...] = ()
    custom_domains: tuple[str, ...] = ()

    @property
    def default_opset(self) -> int:
        """The opset version of the default ONNX domain (0 if absent)."""
        for domain, version in self.opsets:
            if domain in ("", "ai.onnx"):
                return version
        return 0

    def metadata_value(self, key: str) -> str | None:
        """Return one ``metadata_props`` value, or None."""
        for k, v in self.metadata:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a layer's output on the model input, per spatial axis."""

    size: tuple[int, ...]
    stride: tuple[int, ...]


@dataclass(frozen=True)
class LayerInfo:
    """One convolution layer and the tensor Featurescope shows for it."""

    index: int
    name: str
    op_type: str
    node_name: str
    conv_output: str
    activation: str | None
    activation_op: str | None
    tensor: str
    shape: tuple[Dim, ...] | None
    channels: int | None
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    group: int
    spatial_rank: int
    stage: int
    receptive_field: ReceptiveField | None
    exposable: bool
    reason: str = ""
    quantized: bool = False
    in_subgraph: bool = False
    raw_tensor: str | None = None

    @property
    def spatial_shape(self) -> tuple[Dim, ...] | None:
        """The spatial part of the output shape (after N and C)."""
        if self.shape is None or len(self.shape) < 2:
            return None
        return self.shape[2:]


@dataclass(frozen=True)
class InputSpec:
    """How an image becomes the model's input tensor."""

    layout: Layout = "NCHW"
    height: int = 224
    width: int = 224
    resize: ResizeMode = "stretch"
    channel_order: ChannelOrder = "RGB"
    scale: Scale = "0..1"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    dtype: str = "float32"
    preset: str = "raw"
    channels: int = 3


@dataclass(frozen=True)
class ImageTransform:
    """How original image pixels map onto the model's input: ``model = original * scale + offset``.

    Coordinates are (y, x) in pixels with 0 at the top-left corner of the first
    pixel; ``original_size`` and ``input_size`` are (height, width).
    """

    original_size: tuple[int, int]
    input_size: tuple[int, int]
    scale: tuple[float, float]
    offset: tuple[float, float]

    def to_original(self, y: float, x: float) -> tuple[float, float]:
        """A model-input point in original image pixels, clipped to the image."""
        oy = (y - self.offset[0]) / self.scale[0]
        ox = (x - self.offset[1]) / self.scale[1]
        return (min(max(oy, 0.0), float(self.original_size[0])),
                min(max(ox, 0.0), float(self.original_size[1])))

    def box_to_original(self, box: tuple[float, float, float, float]
                        ) -> tuple[float, float, float, float]:
        """An (x0, y0, x1, y1) box in model-input pixels, in original image pixels."""
        y0, x0 = self.to_original(box[1], box[0])
        y1, x1 = self.to_original(box[3], box[2])
        return x0, y0, x1, y1


@dataclass(frozen=True)
class PreparedInput:
    """The tensors fed to the model plus what the user should see.

    ``transform`` maps the original image onto the model input (None for
    ``.npy`` and audio inputs, whose pixels are the model's own).
    """

    feeds: tuple[tuple[str, np.ndarray], ...]
    display: np.ndarray | None
    spec: InputSpec | None
    source: str
    warnings: tuple[str, ...] = ()
    transform: ImageTransform | None = None
    spec_reason: str = ""

    def input_summary(self) -> dict[str, object]:
        """Size, preset, layout and why they were chosen, as manifests record them."""
        size = None
        if self.transform is not None:
            size = list(self.transform.input_size)
        elif self.spec is not None:
            size = [self.spec.height, self.spec.width]
        return {"size": size, "preset": None if self.spec is None else self.spec.preset,
                "layout": None if self.spec is None else self.spec.layout,
                "reason": self.spec_reason}

    def feed_dict(self) -> dict[str, np.ndarray]:
        """Return the feeds as the dict onnxruntime expects."""
        return dict(self.feeds)


@dataclass(frozen=True)
class LayerStats:
    """Per-channel and per-layer statistics of one feature map.

    Per-channel arrays have one entry per channel (float64).
    """

    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    zero_fraction: np.ndarray
    dead: np.ndarray
    layer_min: float
    layer_max: float
    layer_mean: float
    layer_std: float
    layer_zero_fraction: float

    @property
    def dead_count(self) -> int:
        """Number of channels flagged dead (constant over the whole map)."""
        return int(np.count_nonzero(self.dead))


@dataclass(frozen=True)
class LayerMaps:
    """Feature maps of one layer for the first item of the batch.

    ``data`` is float32 with shape (C, *spatial) in real units (integer maps
    dequantised); ``raw`` keeps the integer values of quantised layers.
    """

    layer: LayerInfo
    data: np.ndarray
    stats: LayerStats
    raw: np.ndarray | None = None
    dequantized: bool = False


@dataclass(frozen=True)
class OutputCheck:
    """Comparison of the rewritten model's original outputs with the unmodified model."""

    max_abs_diff: tuple[tuple[str, float], ...]
    tolerance: float
    passed: bool

    @property
    def worst(self) -> float:
        """The largest difference over all outputs."""
        return max((d for _, d in self.max_abs_diff), default=0.0)


@dataclass(frozen=True)
class RewriteReport:
    """What :func:`engine.graph.expose.expose_tensors` did."""

    exposed: tuple[str, ...]
    already_outputs: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    original_outputs: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunInfo:
    """Which provider really ran and why it is not CUDA if it is not."""

    provider: str
    providers: tuple[str, ...]
    fallback_reason: str
    device_name: str
    optimization_level: str


@dataclass(frozen=True)
class FeatureMaps:
    """The result of one feature-map extraction run."""

    model_sha256: str
    run: RunInfo
    input: PreparedInput
    layers: tuple[LayerMaps, ...]
    outputs: tuple[tuple[str, np.ndarray], ...]
    check: OutputCheck
    rewrite: RewriteReport
    timings: tuple[tuple[str, float], ...]
    notes: tuple[str, ...] = ()
    request_id: int = 0

    def layer(self, name: str) -> LayerMaps:
        """Return the maps of the layer called ``name``."""
        for maps in self.layers:
            if maps.layer.name == name:
                return maps
        raise KeyError(name)


@dataclass(frozen=True)
class Progress:
    """Progress of a long operation: ``done`` of ``total`` steps."""

    done: int
    total: int
    message: str = ""
    extra: tuple[tuple[str, float], ...] = field(default=())

    @property
    def fraction(self) -> float:
        """Fraction done in [0, 1]."""
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


@dataclass(frozen=True)
class Prediction:
    """One row of a top-k table: class index, label, score, and whether it is a probability."""

    index: int
    label: str
    score: float
    probability: bool
